"""Uplink drain rate (issue #8 item 6, issue #10): a backlog of closed encounters x 3,600 observations drained by
`edge-app uplink --once` into a real FHIR R4 engine, beside that engine's raw ingest rate of the same chunks.

The backlog is written with the store's own ops (the writer, create_encounter, the device insert op the
drivers use, change_encounter(forward=True)) before the daemon starts: the rows the daemon would have
written, in seconds. The receiver is the test rig's FHIR engine, tests/e2e/upstream/servers.py (Medplum's
FhirRouter in node, validating every resource). Importing from tests/ is deliberate: it is the one real FHIR
server this project runs on loopback, and its start-up, npm install and admin API are kept there.

In one run, on one engine process (warmed up first: its first bundles are slow, JIT):
  raw before: the first records' Bundles, fetched from the daemon (GET .../fhir: the builder behind the
              outbox payload), split and JSON-encoded exactly as the uplink does it (untimed), POSTed one
              after another straight to the emptied engine;
  drain:      the emptied engine; `edge-app uplink --once` from spawn to exit (it exits 0 when nothing
              waits); then every resource must be stored (engine counts = the records' contents) and the
              outbox empty with every entry confirmed, or the benchmark fails;
  raw after:  the same as raw before, so that load from other work on the machine drifts out of the ratio.
The ratio is drain entries/s over raw entries/s. The engine shares the machine's cores with the daemon and
the uplink here (on an ambulance the server is elsewhere), so the CPU the uplink path spends per engine CPU
second is printed too: below 1, one core of the appliance outpaces one core of this engine.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.figures import ROOT, Figure, _api_up, _wait

VEHICLE = "AMB-BENCH"
OBS_PER_ENCOUNTER = 3600
IN_FLIGHT = 4  # the default
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
LINE = (("spo2", 97, "%"), ("pulse_rate", 80, "/min"), ("perfusion_index", 3.2, "%"))  # one oximeter line


def build_backlog(db_path: Path, encounters: int, per_encounter: int = OBS_PER_ENCOUNTER) -> list[str]:
    """What the daemon would have written: an oximeter's readings (3 per line, a line a second) attached to
    the active encounter, all in its record, then handed over and closed with forwarding on: one outbox
    entry per encounter."""
    from edge_app.store.encounters import change_encounter, create_encounter
    from edge_app.model.observation import NewObservation
    from edge_app.store.devices import upsert_device
    from edge_app.store.observations import insert_device_observations
    from edge_app.store.writer import Writer

    w = Writer(db_path)
    try:
        w.submit(upsert_device("ox", "masimo-ascii", "/dev/ttyUSB0", None, T0_MS)).result()
        ids = []
        for i in range(encounters):
            start = T0_MS + i * 7_200_000
            eid = w.submit(create_encounter(start, "crew", f"INC-{i:04d}")).result()
            w.submit(change_encounter(eid, {"complaint": "chest pain", "patient.sex": "female",
                                            "patient.name": f"Bench Patient {i}",
                                            "times.at_patient": start + 60_000}, start + 1000, "crew")).result()
            lines = -(-per_encounter // len(LINE))
            obs = [NewObservation(metric=m, value=v + (j % 5 if isinstance(v, int) else 0), unit=u,
                                  received_at=start + 120_000 + j * 1000, source="device", device="ox")
                   for j in range(lines) for m, v, u in LINE][:per_encounter]
            w.submit(insert_device_observations(obs)).result()
            # The worst case for the uplink: every reading in the record, as records made before charting
            # (which charts a monitor's values every 5 min) are; the drain rate is per Observation sent.
            w.submit(lambda db, eid=eid: db.execute("UPDATE observations SET charted = 1 WHERE encounter_id = ?",
                                                    (eid,))).result()
            end = start + 120_000 + lines * 1000
            w.submit(change_encounter(eid, {"status": "handed_over", "times.handover": end}, end, "crew",
                                      forward=True)).result()
            w.submit(change_encounter(eid, {"status": "closed", "times.clear": end + 600_000}, end + 600_000,
                                      "crew", forward=True)).result()
            ids.append(eid)
    finally:
        w.close()
    return ids


def _config(root: Path, url: str, batch_size: int, in_flight: int = IN_FLIGHT) -> Path:
    cfg = root / "config.toml"
    cfg.write_text(f'[storage]\npath = "{root / "edge.db"}"\n[api]\nsocket = "{root / "api.sock"}"\n'
                   f'[appliance]\nvehicle_id = "{VEHICLE}"\n'
                   f'[upstream]\ntarget = "fhir"\nurl = "{url}"\nbatch_size = {batch_size}\nin_flight = {in_flight}\n'
                   'timeout_s = 120\n')  # a timeout would resend (still exactly once) and skew the figure
    return cfg


def _daemon(root: Path, cfg: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "edge_app", "run", "--config", str(cfg)], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(root / "daemon.log", "ab"))


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _uplink_once(root: Path, cfg: Path, timeout: float) -> tuple[float, int, float]:
    """`edge-app uplink --once`: seconds from spawn to exit, its exit code, and the CPU seconds it used.
    --once keeps retrying while anything waits (a daemon answering 500 included): killed after `timeout`."""
    with open(root / "uplink.log", "ab") as log:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "edge_app", "uplink", "--once", "--config", str(cfg)], cwd=ROOT,
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                p.kill()
                p.wait()
                raise RuntimeError(f"the uplink did not drain the backlog within {timeout:.0f} s (logs in {root})")
            time.sleep(0.02)
    p.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t0, p.returncode, usage.ru_utime + usage.ru_stime


def _outbox(db_path: Path) -> tuple[int, int, int, int]:
    """(pending, dead, confirmed, observations) straight from the database."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        pending, dead = db.execute("SELECT count(*) FILTER (WHERE state = 'pending'), "
                                   "count(*) FILTER (WHERE state = 'dead') FROM outbox").fetchone()
        done = db.execute("SELECT count(*) FROM outbox_done").fetchone()[0]
        obs = db.execute("SELECT count(*) FROM observations").fetchone()[0]
    return pending, dead, done, obs


def _record(root: Path, eid: str) -> dict[str, Any]:
    """The record as the daemon builds it for the outbox (GET .../fhir runs the same builder)."""
    import httpx

    with httpx.Client(transport=httpx.HTTPTransport(uds=str(root / "api.sock")), base_url="http://x",
                      timeout=120) as c:
        r = c.get(f"/api/v1/encounters/{eid}/fhir")
        r.raise_for_status()
        return r.json()


def _chunks(bundle: dict[str, Any], batch_size: int) -> list[bytes]:
    """The transactions the uplink posts for this record, encoded as it encodes them."""
    from edge_app.uplink.targets.fhir import _encode, split_bundle

    return [_encode(c) for c in split_bundle(bundle, batch_size)]


def _types(bundle: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in bundle["entry"]:
        t = e["request"]["url"].split("/")[0]
        out[t] = out.get(t, 0) + 1
    return out


def _raw(engine: Any, bodies: list[bytes]) -> tuple[int, float, float]:
    """(entries, seconds, engine CPU seconds) for the bodies POSTed straight to the emptied engine."""
    from tests.e2e.upstream.servers import raw_ingest_rate

    entries = sum(len(json.loads(b)["entry"]) for b in bodies)
    engine.reset()
    cpu0 = _cpu_s(engine.proc.pid)
    rate = raw_ingest_rate(engine, bodies)
    cpu = _cpu_s(engine.proc.pid) - cpu0
    engine.reset()
    return entries, entries / rate, cpu


@dataclass
class Drain:
    batch_size: int
    encounters: int
    observations: int
    entries: int
    seconds: float  # uplink spawn to exit
    transactions: int
    engine_cpu: float
    daemon_cpu: float
    uplink_cpu: float
    raw_entries: int
    raw_seconds: float
    raw_engine_cpu: float
    build_seconds: float

    @property
    def rate(self) -> float:
        return self.entries / self.seconds

    @property
    def raw_rate(self) -> float:
        return self.raw_entries / self.raw_seconds


def drain(engine: Any, work: Path, encounters: int, batch_size: int, raw_records: int) -> Drain:
    """Build a backlog, drain it into the emptied engine, check that all of it arrived once; raw around it."""
    root = Path(tempfile.mkdtemp(prefix=f"drain-{batch_size}-", dir=work))
    t0 = time.perf_counter()
    ids = build_backlog(root / "edge.db", encounters)
    build_s = time.perf_counter() - t0
    cfg = _config(root, engine.url, batch_size)
    proc = _daemon(root, cfg)
    try:
        _wait(lambda: _api_up(root), 30)
        records = [_record(root, eid) for eid in ids[:raw_records]]
        per_record = _types(records[0])
        expected = {t: n * encounters for t, n in per_record.items()}
        bodies = [b for r in records for b in _chunks(r, batch_size)]
        raw1 = _raw(engine, bodies)
        engine_cpu0, daemon_cpu0 = _cpu_s(engine.proc.pid), _cpu_s(proc.pid)
        seconds, rc, uplink_cpu = _uplink_once(root, cfg, timeout=60 + encounters * 30)
        engine_cpu, daemon_cpu = _cpu_s(engine.proc.pid) - engine_cpu0, _cpu_s(proc.pid) - daemon_cpu0
        pending, dead, done, obs = _outbox(root / "edge.db")
        got, writes = engine.counts(), engine.writes()
        log = (root / "uplink.log").read_text(errors="replace")
        if (rc != 0 or pending or dead or done != encounters or got != expected or obs != expected["Observation"]
                or not re.search(rf"uplink stopped: {encounters} sent, \d+ retried, 0 refused", log)):
            raise RuntimeError(f"the uplink did not deliver the backlog exactly (batch_size {batch_size}): exit "
                               f"{rc}; outbox: {pending} pending, {dead} dead, {done} of {encounters} confirmed; "
                               f"{obs} observations stored here; the engine holds {got}, expected {expected}; "
                               f"logs in {root}")
    finally:
        proc.terminate()
        proc.wait(10)
    raw2 = _raw(engine, bodies)
    shutil.rmtree(root, ignore_errors=True)
    return Drain(batch_size, encounters, expected["Observation"], sum(expected.values()), seconds,
                 int(writes.get("transactions", 0)), engine_cpu, daemon_cpu, uplink_cpu,
                 raw1[0] + raw2[0], raw1[1] + raw2[1], raw1[2] + raw2[2], build_s)


def _idle_uplink(engine: Any, work: Path) -> float:
    """`uplink --once` with nothing waiting: the process's fixed cost inside every drain time."""
    root = Path(tempfile.mkdtemp(prefix="idle-", dir=work))
    build_backlog(root / "edge.db", 0)
    cfg = _config(root, engine.url, 200)
    proc = _daemon(root, cfg)
    try:
        _wait(lambda: _api_up(root), 30)
        runs = [_uplink_once(root, cfg, timeout=60) for _ in range(2)]
    finally:
        proc.terminate()
        proc.wait(10)
    if any(rc != 0 for _, rc, _ in runs):
        raise RuntimeError(f"uplink --once with nothing waiting failed (logs in {root})")
    shutil.rmtree(root, ignore_errors=True)
    return min(s for s, _, _ in runs)


def uplink_drain(quick: bool) -> list[Figure]:
    """Drain N encounters x 3,600 observations to the FHIR engine; the ratio to its raw ingest is the figure."""
    from tests.e2e.upstream.servers import observation_bundle, start_fhir_engine

    encounters = 10 if quick else 100
    batch_sizes = (200,) if quick else (200, 1000)
    raw_records = 2 if quick else 5  # before the drain and again after it
    out: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="eb-uplink-") as d:
        work = Path(d)
        # 100 x 3,600 Observations take well over a GiB of the engine's heap; room to spare beyond V8's default.
        env_before = os.environ.get("NODE_OPTIONS")
        os.environ["NODE_OPTIONS"] = f"{env_before or ''} --max-old-space-size=8192".strip()
        try:
            engine = start_fhir_engine(work)
        finally:
            if env_before is None:
                os.environ.pop("NODE_OPTIONS")
            else:
                os.environ["NODE_OPTIONS"] = env_before
        try:
            _raw(engine, _chunks(observation_bundle(OBS_PER_ENCOUNTER), 200))  # JIT warm-up, not a figure
            idle = _idle_uplink(engine, work)
            for bs in batch_sizes:
                r = drain(engine, work, encounters, bs, raw_records)
                ratio = r.rate / r.raw_rate
                python_cpu = r.daemon_cpu + r.uplink_cpu
                tag = f"(batch {bs})"
                out += [
                    Figure(f"uplink drain, {encounters}x3600 obs {tag}", r.observations / r.seconds, "obs/s", "",
                           None),
                    Figure(f"uplink drain, records {tag}", r.encounters / r.seconds, "records/s", "", None),
                    Figure(f"FHIR engine raw ingest, same chunks {tag}", r.raw_rate, "entries/s", "", None),
                    Figure(f"uplink drain vs raw ingest (ratio) {tag}", ratio, "x", ">= 0.5", ratio >= 0.5),
                    Figure(f"daemon+uplink CPU per engine CPU {tag}", python_cpu / r.engine_cpu, "x", "", None),
                    Figure(f"daemon+uplink alone, per CPU second {tag}", r.entries / python_cpu, "entries/s", "",
                           None),
                ]
            out.append(Figure("uplink --once start to exit, nothing waiting", idle, "s", "", None))
        finally:
            engine.stop()
    return out
