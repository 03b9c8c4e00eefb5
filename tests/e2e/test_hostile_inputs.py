"""Mistakes and hostile inputs found in review: each gets a clear answer and nothing stored is lost."""
from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from edge_app.client import sse_events
from tests.e2e.harness import ROOT, Daemon, Proc, Simulator, wait_for, write_config


def test_socket_path_on_an_existing_file_never_deletes_it(root: Path, procs: list[Proc]) -> None:
    precious = root / "notes.txt"
    precious.write_text("precious")
    cfg = root / "c.toml"
    cfg.write_text(f'[storage]\npath = "{root / "edge.db"}"\n[api]\nsocket = "{precious}"\n')
    p = Proc(["run", "--config", str(cfg)], root / "run.log")
    procs.append(p)
    assert p.p.wait(30) == 2
    assert "exists and is not a socket" in p.output()
    assert precious.read_text() == "precious"


def test_second_daemon_on_the_same_database_is_refused(root: Path, procs: list[Proc]) -> None:
    d = Daemon(write_config(root), root)
    procs.append(d)
    d.wait_ready()
    other = root / "other.toml"
    other.write_text(f'[storage]\npath = "{root / "edge.db"}"\n[api]\nsocket = "{root / "other.sock"}"\n')
    second = Proc(["run", "--config", str(other)], root / "second.log")
    procs.append(second)
    assert second.p.wait(30) == 2
    assert "another edge-app daemon is using this database" in second.output()
    assert not (root / "other.sock").exists()
    assert d.get("/healthz") == {"status": "ok"}


def test_patient_data_is_not_world_readable(root: Path, procs: list[Proc]) -> None:
    data = root / "data"
    cfg = root / "c.toml"
    cfg.write_text(f'[storage]\npath = "{data / "edge.db"}"\n[api]\nsocket = "{root / "api.sock"}"\n')
    d = Daemon(cfg, root)
    procs.append(d)
    d.wait_ready()
    for path in (data, data / "edge.db", data / "edge.db-wal"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0, (path, oct(path.stat().st_mode))


def test_non_utf8_body_is_400_not_500(root: Path, procs: list[Proc]) -> None:
    d = Daemon(write_config(root), root)
    procs.append(d)
    d.wait_ready()
    with d.client() as c:
        r = c.post("/api/v1/encounters", content=b'{"incident_ref":"\xff\xfe"}',
                   headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["detail"], r.text


def test_stale_last_event_id_gets_a_reset_then_live_events(root: Path, procs: list[Proc]) -> None:
    link = root / "tty0"
    procs.append(Simulator("masimo-ascii", link, root / "sim.log", rate=10))
    d = Daemon(write_config(root, [("ox", "masimo-ascii", link)]), root)
    procs.append(d)
    d.wait_ready()

    async def first_events() -> list[tuple[str, dict]]:
        got: list[tuple[str, dict]] = []
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(d.socket)), base_url="http://x") as c:
            async for kind, data, _ in sse_events(c, last_event_id=999_999):
                got.append((kind, data))
                if kind == "reading":
                    return got
        return got

    got = asyncio.run(asyncio.wait_for(first_events(), 10))
    assert got[0][0] == "reset" and got[-1][0] == "reading"


def test_device_counters_move_on_the_stream(root: Path, procs: list[Proc]) -> None:
    link = root / "tty0"
    procs.append(Simulator("masimo-ascii", link, root / "sim.log", rate=10))
    d = Daemon(write_config(root, [("ox", "masimo-ascii", link)]), root)
    procs.append(d)
    d.wait_ready()

    async def frames_seen() -> list[int]:
        seen: list[int] = []
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(d.socket)), base_url="http://x") as c:
            async for kind, data, _ in sse_events(c):
                if kind == "device" and data["state"] == "connected":
                    seen.append(data["counters"]["frames_ok"])
                    if len(seen) >= 3:
                        return seen
        return seen

    seen = asyncio.run(asyncio.wait_for(frames_seen(), 10))
    assert seen == sorted(seen) and seen[-1] > seen[0], "the screen's frame counts and ages must not freeze"


def test_simulate_refuses_to_replace_a_file(tmp_path: Path) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("precious")
    r = subprocess.run([sys.executable, "-m", "edge_app", "simulate", "masimo-ascii", "--pty", str(keep)], cwd=ROOT,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "not a symlink" in r.stderr
    assert keep.read_text() == "precious"


def test_demo_killed_by_sigterm_cleans_up(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    p = subprocess.Popen([sys.executable, "-m", "edge_app", "demo", "--headless"], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line.startswith(b"# demo running"), line + p.stderr.read()
    wait_for(lambda: any(tmp_path.iterdir()), 5, "demo dir")
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 0
    assert list(tmp_path.iterdir()) == []


def test_demo_output_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    r = subprocess.run(f"{sys.executable} -m edge_app demo --headless --seconds 20 | head -3", shell=True, cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []
