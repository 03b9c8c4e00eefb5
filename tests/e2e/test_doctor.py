"""`edge-app doctor` finds and explains what a technician meets: no port, wrong mode, no daemon, full disk."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_app.cli.doctor import FAIL, OK, WARN, clock_status, space_status
from tests.e2e.harness import ROOT, Daemon, Proc, tmpfs, wait_for, write_config

MB = 1_000_000


def doctor(config: Path, *, table: bool = False) -> tuple[int, dict[str, dict[str, str]], str]:
    """Exit code, rows by check name (from --json), and (if asked) the table as a technician sees it."""
    args = [sys.executable, "-m", "edge_app", "doctor", "--config", str(config)]
    js = subprocess.run([*args, "--json"], cwd=ROOT, check=False, capture_output=True, text=True, timeout=60)
    assert not js.stderr, js.stderr
    text = ""
    if table:
        plain = subprocess.run(args, cwd=ROOT, check=False, capture_output=True, text=True, timeout=60)
        assert plain.returncode == js.returncode and not plain.stderr, plain.stderr
        text = plain.stdout
    return js.returncode, {r["check"]: r for r in json.loads(js.stdout)}, text


def test_missing_serial_port_is_named_with_the_fix(root: Path, procs: list[Proc]) -> None:
    port = root / "ttyOXI"  # what /dev/edge/oximeter is when the cable is out: nothing
    d = Daemon(write_config(root, [("oximeter", "masimo-ascii", port)]), root)
    procs.append(d)
    d.wait_ready()
    rc, rows, table = doctor(root / "config.toml", table=True)
    assert rc == 1
    dev = rows["device oximeter"]
    assert dev["status"] == FAIL
    assert f"configured on {port}, port absent" in dev["detail"] and "searching" in dev["detail"]
    assert "check the cable and the udev rule" in dev["fix"] and "journalctl -u edge-app" in dev["fix"]
    assert rows["daemon"]["status"] == OK and rows["database"]["status"] == OK
    assert rows["config"]["status"] == OK and rows["upstream"]["detail"].startswith("not configured")
    line = next(ln for ln in table.splitlines() if ln.startswith("device oximeter"))
    assert "FAIL" in line and "port absent" in line and "udev rule" in line


def test_bytes_but_no_frames_says_wrong_output_mode(root: Path, procs: list[Proc]) -> None:
    # A Masimo left in another output mode: bytes arrive, no line parses as ASCII 1 (Journey 4 step 2).
    master, slave = os.openpty()
    link = root / "ttyOXI"
    link.symlink_to(os.ttyname(slave))
    try:
        d = Daemon(write_config(root, [("oximeter", "masimo-ascii", link)]), root)
        procs.append(d)
        d.wait_ready()

        def counters() -> dict[str, int]:
            return next(x for x in d.get("/api/v1/devices") if x["name"] == "oximeter")["counters"]

        wait_for(lambda: next(x for x in d.get("/api/v1/devices"))["state"] == "connected", 10, "port opened")
        for _ in range(8):
            os.write(master, b"\x02SPO2 097 BPM 072 PI 01.20 ALARM 0000\x03\r\n")
        wait_for(lambda: counters()["frames_bad"] >= 5, 10, "bad frames counted")
        rc, rows, _ = doctor(root / "config.toml")
    finally:
        os.close(master)
        os.close(slave)
    dev = rows["device oximeter"]
    assert rc == 1 and dev["status"] == FAIL, dev
    assert "bytes arriving" in dev["detail"] and "0 frames ok" in dev["detail"]
    assert dev["fix"].startswith("wrong output mode: set the monitor's serial output to ASCII 1")
    assert "edge-app decode masimo-ascii --file" in dev["fix"]


def test_stopped_daemon_is_explained(root: Path, procs: list[Proc]) -> None:
    d = Daemon(write_config(root), root)
    procs.append(d)
    d.wait_ready()
    assert d.terminate() == 0
    rc, rows, _ = doctor(root / "config.toml")
    assert rc == 1
    assert rows["daemon"]["status"] == FAIL and "not running" in rows["daemon"]["detail"]
    assert rows["daemon"]["fix"].startswith("systemctl start edge-app")
    assert rows["database"]["status"] == OK and "integrity_check ok" in rows["database"]["detail"]


@pytest.fixture
def tiny_fs(root: Path) -> Iterator[Path]:
    """A 2 MB data partition."""
    with tmpfs(root / "small", "2m") as mnt:
        yield mnt


def test_full_disk_fails_with_the_fix(root: Path, tiny_fs: Path) -> None:
    data = tiny_fs / "data"
    data.mkdir()
    config = root / "config.toml"
    config.write_text(f'[storage]\npath = "{data / "edge.db"}"\n[api]\nsocket = "{root / "api.sock"}"\n')
    rc, rows, _ = doctor(config)
    space = rows["free space"]
    assert rc == 1 and space["status"] == FAIL, space
    assert "of 2 MB" in space["detail"]
    assert "backups" in space["fix"] and "journalctl --vacuum-size" in space["fix"]
    assert rows["data dir"]["status"] == OK


def test_broken_config_is_a_row_not_exit_2(root: Path) -> None:
    config = root / "config.toml"
    config.write_text("[storage]\npaht = 'x'\n")
    rc, rows, _ = doctor(config)
    assert rc == 1 and list(rows) == ["config", "clock"]
    assert rows["config"]["status"] == FAIL and "storage.paht: unknown key" in rows["config"]["detail"]
    assert str(config) in rows["config"]["fix"]


def test_free_space_thresholds() -> None:
    assert space_status(50 * MB, 8000 * MB)[0] == FAIL  # under 100 MB
    assert space_status(150 * MB, 10_000 * MB)[0] == FAIL  # under 2 %
    assert space_status(500 * MB, 8000 * MB)[0] == WARN  # under 1 GB
    assert space_status(5000 * MB, 8000 * MB) == (OK, "5.0 GB free of 8.0 GB (62%)")
    assert space_status(0, 0)[0] == FAIL


def test_free_space_of_a_real_directory(tmp_path: Path) -> None:
    from edge_app.cli.doctor import _data_dir

    st = os.statvfs(tmp_path)
    rows = {c.check: c for c in _data_dir(tmp_path)}
    assert rows["data dir"].status == OK
    assert rows["free space"].status == space_status(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)[0]


def test_clock_checks() -> None:
    now = time.time()
    assert clock_status(now, None)[0] == OK
    assert clock_status(0, None) == (FAIL, "1970-01-01 00:00:00 UTC: the clock is not set")
    assert clock_status(now, int((now + 3600) * 1000))[0] == FAIL  # readings "from the future": it went back
    assert clock_status(now, int((now - 86400 * 400) * 1000))[0] == OK  # a box unused for a year is fine


def test_clock_compares_with_the_reading_stored_last(tmp_path: Path) -> None:
    """After NTP stepped the clock back an hour, older rows carry later times: the newest stored reading is
    the one stored last (highest id), so a corrected clock is not reported as behind."""
    from edge_app.cli.doctor import _clock, _database
    from edge_app.model.observation import NewObservation
    from edge_app.store.observations import insert_device_observations
    from edge_app.store.writer import Writer

    now_ms = int(time.time() * 1000)
    writer = Writer(tmp_path / "edge.db")
    try:
        for t in (now_ms + 3_600_000, now_ms - 5_000):  # before the step (clock an hour ahead), then after
            o = NewObservation(metric="spo2", value=97, unit="%", received_at=t, source="device",
                               device="oximeter")
            writer.submit(insert_device_observations([o])).result(5)
    finally:
        writer.close()
    row, newest = _database(tmp_path / "edge.db")
    assert row.status == OK and "2 observations" in row.detail
    assert newest == now_ms - 5_000
    assert _clock(newest).status == OK
