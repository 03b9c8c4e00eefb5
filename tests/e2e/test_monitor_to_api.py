"""A simulated Masimo on a real pty, the real daemon, the real API: readings flow, survive replug and kill -9."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tests.e2e.harness import Daemon, Proc, Simulator, wait_for, write_config


def device(d: Daemon, name: str = "oximeter") -> dict:
    return next(x for x in d.get("/api/v1/devices") if x["name"] == name)


def observations(d: Daemon, **params: object) -> list[dict]:
    out: list[dict] = []
    after = 0
    while True:
        page = d.get("/api/v1/observations", after=after, limit=5000, **params)
        if not page:
            return out
        out += page
        after = page[-1]["id"]


def test_readings_reach_the_api_and_attach_to_the_active_encounter(root: Path, procs: list[Proc]) -> None:
    link = root / "ttyOXI"
    sim = Simulator("masimo-ascii", link, root / "sim.log")
    procs.append(sim)
    d = Daemon(write_config(root, [("oximeter", "masimo-ascii", link)]), root)
    procs.append(d)
    d.wait_ready()
    wait_for(lambda: len(observations(d, unassigned=True)) >= 6, 10, "unassigned readings")
    first = observations(d, unassigned=True)
    assert {o["metric"] for o in first} >= {"spo2", "pulse_rate", "perfusion_index"}
    assert all(o["device"] == "oximeter" and o["source"] == "device" and o["encounter_id"] is None for o in first)
    spo2 = [o["value"] for o in first if o["metric"] == "spo2"]
    assert all(70 <= v <= 100 for v in spo2), spo2
    with d.client() as c:
        eid = c.post("/api/v1/encounters", json={"incident_ref": "INC-7"}).json()["id"]
    wait_for(lambda: len(d.get(f"/api/v1/encounters/{eid}/observations", resolution="raw")) >= 6, 10, "readings on the encounter")
    dev = device(d)
    assert dev["state"] == "connected"
    assert dev["counters"]["frames_ok"] > 0 and dev["latest"]["spo2"]["unit"] == "%"
    # nothing was lost in between: the unassigned ones are all still there
    assert {o["id"] for o in first} <= {o["id"] for o in observations(d, unassigned=True)}


def test_unplug_and_replug_resumes_without_restart(root: Path, procs: list[Proc]) -> None:
    link = root / "ttyOXI"
    sim = Simulator("masimo-ascii", link, root / "sim1.log")
    procs.append(sim)
    d = Daemon(write_config(root, [("oximeter", "masimo-ascii", link)]), root)
    procs.append(d)
    d.wait_ready()
    wait_for(lambda: device(d)["counters"]["frames_ok"] >= 3, 10, "first frames")
    sim.terminate()  # the cable comes out: the pty hangs up and the link disappears
    wait_for(lambda: device(d)["state"] in ("searching", "error"), 5, "the daemon to notice the unplug")
    before = len(observations(d))
    time.sleep(0.5)
    sim2 = Simulator("masimo-ascii", link, root / "sim2.log", seed=2)
    procs.append(sim2)
    t_plug = time.monotonic()
    wait_for(lambda: len(observations(d)) > before, 10, "readings after replug")
    resumed_s = time.monotonic() - t_plug
    assert device(d)["state"] == "connected"
    assert device(d)["counters"]["opens"] >= 2
    assert d.alive(), "no restart"
    print(f"\nreplug to next stored reading: {resumed_s:.2f} s")


def test_monitor_absent_at_start_is_waited_for(root: Path, procs: list[Proc]) -> None:
    link = root / "ttyLATE"
    d = Daemon(write_config(root, [("oximeter", "masimo-ascii", link)]), root)
    procs.append(d)
    d.wait_ready()
    wait_for(lambda: device(d)["state"] == "searching", 5, "searching state")
    procs.append(Simulator("masimo-ascii", link, root / "sim.log"))
    wait_for(lambda: observations(d), 10, "readings once the monitor appears")


def test_garbage_on_the_line_is_counted_and_the_next_line_decodes(root: Path, procs: list[Proc]) -> None:
    from firmware_bridge.simulate.ports import VirtualSerialPort

    link = root / "ttyNOISY"
    port = VirtualSerialPort(link)
    try:
        d = Daemon(write_config(root, [("oximeter", "masimo-ascii", link)]), root)
        procs.append(d)
        d.wait_ready()
        wait_for(lambda: device(d)["state"] == "connected", 5, "connected")
        port.write(b"\x00\xff\xfe garbage \x13\x37\r\nSPO2=09")  # noise, then half a line
        port.write(b"\r\n09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800\r\n")
        wait_for(lambda: observations(d, metric="spo2"), 5, "the good line decoded")
        assert [o["value"] for o in observations(d, metric="spo2")] == [97]
        assert device(d)["counters"]["frames_bad"] >= 1
    finally:
        port.close()


def test_kill_9_loses_nothing_the_api_returned(root: Path, procs: list[Proc]) -> None:
    link = root / "ttyOXI"
    sim = Simulator("masimo-ascii", link, root / "sim.log", rate=50)
    procs.append(sim)
    cfg = write_config(root, [("oximeter", "masimo-ascii", link)])
    seen: dict[int, tuple] = {}
    for _cycle in range(3):
        d = Daemon(cfg, root)
        procs.append(d)
        d.wait_ready()
        after = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # read while ingest runs, then kill mid-stream
            for o in d.get("/api/v1/observations", after=after, limit=5000):
                seen[o["id"]] = (o["metric"], o["value"], o["received_at"])
                after = o["id"]
            time.sleep(0.05)
        d.kill9()
    assert len(seen) > 50
    d = Daemon(cfg, root)
    procs.append(d)
    d.wait_ready()
    after_restart = {o["id"]: (o["metric"], o["value"], o["received_at"]) for o in observations(d)}
    missing = set(seen) - set(after_restart)
    assert not missing, f"{len(missing)} readings the API had returned are gone"
    assert all(after_restart[i] == seen[i] for i in seen)
    d.terminate()
    con = sqlite3.connect(root / "edge.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()
    check = Proc(["db", "check", "--config", str(cfg)], root / "check.log")
    assert check.p.wait(30) == 0, check.output()
    assert "integrity_check: ok" in check.output()
