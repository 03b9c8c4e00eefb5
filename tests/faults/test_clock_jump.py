"""Fault injection: the box's wall clock steps back an hour (NTP or GPS correcting it) while a monitor sends.

Only the daemon's clock moves, by libfaketime (Debian package `faketime`) with its offset read from a file
on every call, so the test can step it while the daemon runs. Nothing is lost or repeated; the listing
and the stream stay in sequence order, the readings after the step after the ones before it although
their received_at is an hour earlier; NEWS2, the devices' latest values and the handover use the newest
reading by sequence; the database is sound; the daemon says in its log that the clock was stepped.

libfaketime settings, each needed:
- libfaketimeMT.so.1, not libfaketime.so.1: the daemon has threads, and with FAKETIME_NO_CACHE every
  faked call re-reads the offset file into static buffers; the MT build serialises those calls.
- FAKETIME_TIMESTAMP_FILE + FAKETIME_NO_CACHE=1: the offset is read from the file on every call (with
  the cache, a change shows only up to 10 s later). Written whole and renamed, so never read half-written.
- FAKETIME_DONT_FAKE_MONOTONIC=1: by default libfaketime fakes CLOCK_MONOTONIC too, with wall-clock
  values (about 1.8e9 s). CPython 3.11's timed lock waits hand a deadline on that clock to
  sem_clockwait(CLOCK_MONOTONIC), which libfaketime 0.9.10 does not intercept, and the kernel waits for
  its real monotonic clock (uptime) to reach it: threading.Event().wait(0.3) hung even with offset +0.
  And time.monotonic() would step back with the wall clock, stalling asyncio's timers for the hour.
  Only the wall clock steps on a real box.
- FAKETIME_FORCE_MONOTONIC_FIX=0: Debian's 0.9.10 turns its "monotonic fix" on by itself with this glibc;
  it then turns the deadline of every pthread_cond_timedwait on a CLOCK_MONOTONIC condition variable
  into one in the past, and CPython's GIL waits on one: every thread switch becomes a busy loop
  (multi-threaded Python ran about 10 times slower in a check). Off, the deadline passes through.
- NO_FAKE_STAT=1: otherwise file times from stat() are shifted too, and after the step every lazy import
  finds its .pyc out of date and rewrites it.
"""
from __future__ import annotations

import asyncio
import glob
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge_app.client import sse_events
from firmware_bridge.simulate.masimo import masimo_line
from firmware_bridge.simulate.patient import Vitals
from firmware_bridge.simulate.ports import VirtualSerialPort
from tests.e2e.harness import Daemon, Proc, wait_for, write_config
from tests.sysdeps import require_program

STEP_S = 3600
LINE_HZ = 25
EACH_SIDE = 25  # lines stored before the step, and lines with the new SpO2 after it
POLL_S = 0.1  # every listing is audited (a write): do not flood the writer


def libfaketime() -> str:
    """Path of libfaketimeMT.so.1 (installed with Debian's `faketime` as root, else the test fails)."""
    require_program("faketime", "faketime")
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        pytest.fail("libfaketimeMT.so.1 not found: install the Debian package 'faketime' "
                    "(apt-get install faketime)")
    return found[0]


def set_offset(rc: Path, offset_s: int) -> None:
    tmp = rc.with_name(rc.name + ".new")
    tmp.write_text(f"{offset_s:+d}\n")
    os.replace(tmp, rc)


class Monitor(threading.Thread):
    """A Masimo on a pty, written by this test, so what it sent is known exactly: line i has PI (i+1)/100."""

    def __init__(self, port: VirtualSerialPort) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.spo2 = 97
        self.sent: list[Vitals] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            i = len(self.sent)
            v = Vitals(spo2=self.spo2, pulse_rate=60 + i % 40, perfusion_index=(i + 1) / 100)
            self.port.write(masimo_line(v, datetime.now(UTC), serial_number="0000012345"))
            self.sent.append(v)
            time.sleep(1 / LINE_HZ)


class Stream(threading.Thread):
    """The daemon's event stream, followed as the cab screen follows it, until close()."""

    def __init__(self, sock: Path) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.readings: list[tuple[int, dict[str, Any]]] = []  # (event id, data) of perfusion_index readings
        self.news2: list[dict[str, Any]] = []
        self.opened = threading.Event()
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._task = self._loop.create_task(self._follow())

    def run(self) -> None:
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            self.error = exc
        finally:
            self._loop.close()

    def close(self) -> None:
        if self.is_alive():
            self._loop.call_soon_threadsafe(self._task.cancel)
            self.join(5)

    async def _follow(self) -> None:
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(self.sock)),
                                     base_url="http://edge-app") as c:
            async for kind, data, eid in sse_events(c):
                self.opened.set()
                if kind == "news2":
                    self.news2.append(data)
                elif kind == "reading" and data["metric"] == "perfusion_index":
                    assert eid is not None
                    self.readings.append((eid, data))


def line_index(pi: float) -> int:
    return round(pi * 100) - 1


def test_wall_clock_stepping_back_an_hour_keeps_order_by_sequence(root: Path, procs: list[Proc]) -> None:
    lib = libfaketime()
    assert "FAKETIME" not in os.environ, "FAKETIME in the environment would override the offset file"
    rc = root / "faketime.rc"
    set_offset(rc, 0)
    env = {"LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": str(rc), "FAKETIME_NO_CACHE": "1",
           "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_FORCE_MONOTONIC_FIX": "0", "NO_FAKE_STAT": "1"}
    port = VirtualSerialPort(root / "ttyOX")
    d = Daemon(write_config(root, [("ox", "masimo-ascii", root / "ttyOX")]), root, env=env)
    procs.append(d)
    monitor: Monitor | None = None
    stream: Stream | None = None
    try:
        d.wait_ready()
        with d.client() as c:
            r = c.post("/api/v1/encounters", json={"incident_ref": "INC-CLOCK"})
            assert r.status_code == 201, r.text
            eid = r.json()["id"]
        wait_for(lambda: d.get("/api/v1/devices")[0]["state"] == "connected", 10, "the monitor connected")
        stream = Stream(d.socket)
        stream.start()
        assert stream.opened.wait(10), f"stream did not open: {stream.error!r}"
        dropped = port.dropped  # written before the daemon listened; none from here on
        monitor = Monitor(port)
        monitor.start()

        # What the API lists, read while it happens, paging by id as a tablet does.
        listed: list[dict[str, Any]] = []

        def read_more() -> list[dict[str, Any]]:
            after = listed[-1]["id"] if listed else 0
            while page := d.get(f"/api/v1/encounters/{eid}/observations", after=after, limit=1000, resolution="raw"):
                listed.extend(page)
                after = page[-1]["id"]
            return listed

        def pis() -> list[dict[str, Any]]:
            return [o for o in read_more() if o["metric"] == "perfusion_index"]

        wait_for(lambda: len(pis()) >= EACH_SIDE, 15, "readings before the step", POLL_S)
        before = [dict(o) for o in listed]
        real_ms = time.time() * 1000
        assert all(abs(o["received_at"] - real_ms) < 60_000 for o in before), "not stepped yet"
        news2_before = d.get(f"/api/v1/encounters/{eid}/news2")
        assert news2_before["inputs"]["spo2"]["value"] == 97

        set_offset(rc, -STEP_S)  # NTP corrects the box's clock: back an hour, the monitor goes on sending
        stepped_at = time.time() * 1000
        high = max(o["received_at"] for o in before)
        wait_for(lambda: any(o["received_at"] < high - (STEP_S - 60) * 1000 for o in read_more()), 15,
                 "a reading stored at the stepped time", POLL_S)
        monitor.spo2 = 88  # the patient desaturates: only lines sent after the step carry 88
        wait_for(lambda: [o["value"] for o in read_more() if o["metric"] == "spo2"].count(88) >= EACH_SIDE,
                 15, "readings of the new SpO2", POLL_S)
        monitor.stop.set()
        monitor.join(5)
        sent = monitor.sent
        wait_for(lambda: len(pis()) == len(sent), 15, f"all {len(sent)} lines stored", POLL_S)
        wait_for(lambda: stream.error or stream.readings[-1][1]["value"] >= sent[-1].perfusion_index, 15,
                 "the last line's reading on the stream")
        assert stream.error is None, f"stream: {stream.error!r}"
        time.sleep(0.3)  # a page more, in case anything came twice
        final = read_more()
        assert port.dropped == dropped, "the pty dropped bytes: the test, not the daemon, lost lines"

        # (1) nothing lost, nothing twice: per metric, the values in id order are exactly what was sent
        ids = [o["id"] for o in final]
        assert ids == sorted(set(ids)), "listing in strictly increasing id order, no repeats"
        by_metric = {m: [o["value"] for o in final if o["metric"] == m]
                     for m in ("spo2", "pulse_rate", "perfusion_index")}
        assert by_metric["spo2"] == [v.spo2 for v in sent]
        assert by_metric["pulse_rate"] == [v.pulse_rate for v in sent]
        assert [line_index(p) for p in by_metric["perfusion_index"]] == list(range(len(sent)))
        assert len(final) == 3 * len(sent)
        listed_again = {o["id"]: o for o in final}
        assert all(listed_again[o["id"]] == o for o in before), "what was listed before the step is unchanged"
        full = []
        after = 0
        while page := d.get(f"/api/v1/encounters/{eid}/observations", after=after, limit=50, resolution="raw"):
            full += page
            after = page[-1]["id"]
        assert full == final, "listing afresh in small pages gives the same as following it across the step"

        # (2) sequence order across the step: one step back of about an hour, then the later readings
        times = [o["received_at"] for o in final]
        steps = [i for i in range(1, len(times)) if times[i] < times[i - 1] - (STEP_S - 60) * 1000]
        assert len(steps) == 1, f"exactly one backward step in received_at, at {steps}"
        pre, post = final[:steps[0]], final[steps[0]:]
        assert pre and post and max(o["id"] for o in pre) < min(o["id"] for o in post)
        assert all(o["received_at"] >= before[0]["received_at"] for o in pre)
        assert all(abs(o["received_at"] - (stepped_at - STEP_S * 1000)) < 120_000 for o in post)
        assert all(a["received_at"] <= b["received_at"] for a, b in pairwise(pre))
        assert all(a["received_at"] <= b["received_at"] for a, b in pairwise(post))
        # the monitor's own clock did not move: only the box's
        assert all(abs(o["device_time"] - o["received_at"] - STEP_S * 1000) < 5_000 for o in post)
        # the stream: every line's reading once, in the order sent, event ids increasing across the step
        streamed = [line_index(data["value"]) for _, data in stream.readings]
        assert streamed == list(range(streamed[0], len(sent))) and streamed[0] == 0
        eids = [e for e, _ in stream.readings]
        assert eids == sorted(set(eids))
        stream_times = [data["time"] for _, data in stream.readings]
        assert sum(b < a - (STEP_S - 60) * 1000 for a, b in pairwise(stream_times)) == 1

        # (3) the newest reading by sequence is the latest value, not the one with the latest received_at
        last_spo2 = [o for o in final if o["metric"] == "spo2"][-1]
        assert last_spo2["value"] == 88 and last_spo2["received_at"] < high
        news2 = d.get(f"/api/v1/encounters/{eid}/news2")
        assert {k: news2["inputs"]["spo2"][k] for k in ("metric", "value", "time", "source", "state")} == {
            "metric": "spo2", "value": 88, "time": last_spo2["received_at"], "source": "ox", "state": "current"}, \
            news2["inputs"]
        assert news2["parameters"]["spo2"] == 3  # SpO2 88 on scale 1
        assert d.get("/api/v1/devices")[0]["latest"]["spo2"]["value"] == 88  # the cab screen's tiles
        with d.client() as c:
            atmist = c.get(f"/api/v1/encounters/{eid}/handover", params={"format": "atmist"}).text
        assert "SpO2 88%" in atmist, atmist
        # and the score pushed on the stream (to the cab screen) comes to the same
        try:
            wait_for(lambda: stream.news2[-1]["inputs"]["spo2"]["value"] == 88, 5, "NEWS2 from SpO2 88")
        except AssertionError:
            raise AssertionError(f"no NEWS2 from SpO2 88 on the stream: {stream.news2[-1:]!r}") from None
        stream.close()

        # (5) the daemon noticed and said so
        log = d.output()
        assert "wall clock was stepped back by 36" in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        assert d.terminate() == 0, d.output()[-3000:]
    finally:
        if monitor is not None:
            monitor.stop.set()
        if stream is not None:
            stream.close()
        port.close()
        if d.alive():
            d.terminate()
        for name in (f"faketime_shm_{d.pid}", f"sem.faketime_sem_{d.pid}"):  # left only if it was killed
            Path("/dev/shm", name).unlink(missing_ok=True)

    # (4) the database is sound
    con = sqlite3.connect(root / "edge.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        # every line's three readings, besides the copies the record charts of some (docs/vitals.md)
        assert con.execute("SELECT count(*) FROM observations WHERE copy_of IS NULL").fetchone()[0] == 3 * len(sent)
    finally:
        con.close()
