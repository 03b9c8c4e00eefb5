"""Figures for the quality bars (DESIGN.md), each measured here beside its baseline, never asserted in tests.

Run: benchmarks/run [--quick]. Shared, noisy machines: compare ratios measured in the same run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge_app.model.observation import NewObservation

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: str
    ok: bool | None  # None: informative, no target

    def row(self) -> str:
        verdict = {True: "pass", False: "FAIL", None: "-"}[self.ok]
        return f"{self.name:<48} {self.value:>12.2f} {self.unit:<10} {self.target:<22} {verdict}"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


# ---------------------------------------------------------------- codecs

def codec_rates(quick: bool) -> list[Figure]:
    """Frames per second each codec decodes, fed simulator output in 4 KiB chunks."""
    from firmware_bridge.codecs import codec_for, implemented_protocols
    from firmware_bridge.simulate.runner import simulated_protocols, simulator_for

    out = []
    simulated = set(simulated_protocols())
    for protocol in implemented_protocols():
        if protocol not in simulated:
            continue
        src = simulator_for(protocol, 1)
        when = datetime(2026, 1, 1, tzinfo=UTC)
        blob = b"".join(src.next_frame(when) for _ in range(500 if quick else 3000))
        codec = codec_for(protocol)
        t0 = time.perf_counter()
        for i in range(0, len(blob), 4096):
            codec.feed(blob[i:i + 4096])
        dt = time.perf_counter() - t0
        frames = codec.stats.frames_ok
        out.append(Figure(f"decode {protocol}", frames / dt, "frames/s", ">= 1000 frames/s", frames / dt >= 1000))
    return out


# ---------------------------------------------------------------- store

def ingest_ratio(quick: bool) -> list[Figure]:
    """Readings through the writer as the daemon's device supervisor hands them over (one op of 3 readings
    per Masimo line, counted by its callback once committed) vs raw executemany of the same rows.

    Rounds alternate which of the two goes first, each into a new database; the figure is the median
    round's ratio (a single round of the quick mode lasts about 0.1 s, and other work skews any one)."""
    from edge_app.model.observation import NewObservation

    n_lines, rounds = (3000, 5) if quick else (20000, 3)
    rows = [NewObservation(metric=m, value=v, unit="%", received_at=1_700_000_000_000 + i, source="device",
                           device="bench", device_time=None)
            for i in range(n_lines) for m, v in (("spo2", 97), ("pulse_rate", 80), ("perfusion_index", 3.2))]
    ratios, rates = [], []
    with tempfile.TemporaryDirectory() as d:
        for i in range(rounds):
            app_db, raw_db = Path(d) / f"app{i}.db", Path(d) / f"raw{i}.db"
            if i % 2:
                raw_s, app_s = _raw_ingest(raw_db, rows), _writer_ingest(app_db, rows)
            else:
                app_s, raw_s = _writer_ingest(app_db, rows), _raw_ingest(raw_db, rows)
            ratios.append(raw_s / app_s)
            rates.append(len(rows) / app_s)
        size = app_db.stat().st_size + sum(p.stat().st_size for p in Path(d).glob(f"{app_db.name}-wal"))
    ratio = statistics.median(ratios)
    return [Figure("ingest rate through the writer", statistics.median(rates), "rows/s", "", None),
            Figure("ingest vs raw executemany (ratio)", ratio, "x", ">= 0.5", ratio >= 0.5),
            Figure(f"ingest vs raw, lowest of {rounds} rounds", min(ratios), "x", "", None),
            Figure("database bytes per observation", size / len(rows), "B", "", None)]


def _writer_ingest(path: Path, rows: list[NewObservation]) -> float:
    """Seconds from the first frame handed to DeviceSupervisor.store until the last reading is committed."""
    from edge_app.config import DeviceConfig
    from edge_app.daemon.devices import DeviceSupervisor
    from edge_app.services.hub import Hub
    from edge_app.store.writer import Writer

    w = Writer(path)
    sup = DeviceSupervisor(DeviceConfig(name="bench", protocol="masimo-ascii", port="/dev/null"), w, Hub())
    t0 = time.perf_counter()
    for i in range(0, len(rows), 3):
        sup.store(rows[i:i + 3])
    w.submit(lambda db: None).result()  # committed after every reading before it, and their callbacks run
    app_s = time.perf_counter() - t0
    stored = w.db.execute("SELECT count(*) FROM observations").fetchone()[0]
    w.close()
    if not sup.committed == stored == len(rows) or sup.store_failures:
        raise RuntimeError(f"ingest: {sup.committed} counted, {stored} stored of {len(rows)}, "
                           f"{sup.store_failures} failures")
    return app_s


def _raw_ingest(path: Path, rows: list[NewObservation]) -> float:
    """Seconds for one executemany of the same rows in one transaction, on the writer's schema and pragmas."""
    from edge_app.store.writer import Writer

    Writer(path).close()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=FULL")
    t0 = time.perf_counter()
    con.execute("BEGIN")
    con.executemany("INSERT INTO observations (encounter_id, metric, value, unit, device_time, received_at, "
                    "source, device, flags, entered_by) VALUES (NULL,?,?,?,?,?,?,?,NULL,NULL)",
                    [(o.metric, o.value, o.unit, o.device_time, o.received_at, o.source, o.device) for o in rows])
    con.execute("COMMIT")
    raw_s = time.perf_counter() - t0
    con.close()
    return raw_s


# ---------------------------------------------------------------- daemon end to end

def _daemon(root: Path, devices: str, env: dict[str, str] | None = None, extra_api: str = "") -> subprocess.Popen[bytes]:
    cfg = root / "config.toml"
    cfg.write_text(f'[storage]\npath = "{root / "edge.db"}"\n[api]\nsocket = "{root / "api.sock"}"\n{extra_api}\n'
                   f'{devices}')
    return subprocess.Popen([sys.executable, "-m", "edge_app", "run", "--config", str(cfg)], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(root / "daemon.log", "ab"), env={**os.environ, **(env or {})})


def _api_up(root: Path) -> bool:
    """The daemon answers (READY comes before the web framework has loaded; measure after it has)."""
    import httpx

    with httpx.Client(transport=httpx.HTTPTransport(uds=str(root / "api.sock")), base_url="http://x", timeout=1) as c:
        return c.get("/healthz").status_code == 200


def _open_encounter(root: Path) -> None:
    """An open encounter, as the crew's first key makes one: the cab screen shows vitals only for a patient."""
    import httpx

    with httpx.Client(transport=httpx.HTTPTransport(uds=str(root / "api.sock")), base_url="http://x", timeout=5) as c:
        c.post("/api/v1/encounters", json={"incident_ref": "BENCH"}).raise_for_status()


def _wait(pred: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except Exception:
            pass
        time.sleep(0.01)
    raise RuntimeError("timed out")


def cold_start(quick: bool) -> list[Figure]:
    """Process start to READY=1 (sd_notify), median of several starts."""
    samples = []
    for _ in range(3 if quick else 7):
        with tempfile.TemporaryDirectory(prefix="eb-") as d:
            root = Path(d)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(root / "n.sock"))
            sock.settimeout(20)
            t0 = time.perf_counter()
            p = _daemon(root, "", {"NOTIFY_SOCKET": str(root / "n.sock")})
            while b"READY=1" not in sock.recv(4096):
                pass
            samples.append(time.perf_counter() - t0)
            p.terminate()
            p.wait(10)
            sock.close()
    med = statistics.median(samples)
    return [Figure("process start to READY=1 (median)", med * 1000, "ms", "< 500 ms", med < 0.5)]


async def _latency(root: Path, n: int) -> tuple[list[float], list[float]]:
    import httpx

    from edge_app.client import sse_events
    from firmware_bridge.simulate.masimo import MasimoSimulator
    from firmware_bridge.simulate.ports import VirtualSerialPort

    link = root / "tty0"
    port = VirtualSerialPort(link)
    proc = _daemon(root, f'[[devices]]\nname = "ox"\nprotocol = "masimo-ascii"\nport = "{link}"\n')
    to_stream: list[float] = []
    to_commit: list[float] = []
    try:
        _wait(lambda: _api_up(root), 20)
        sim = MasimoSimulator(1)
        db = None
        client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(root / "api.sock")), base_url="http://x")
        events = sse_events(client)
        async def next_reading() -> None:
            async for kind, _data, _ in events:
                if kind == "reading":
                    return
        # warm up: the device connects and the first line flows through
        while True:
            port.write(sim.next_frame(datetime.now(UTC)))
            try:
                await asyncio.wait_for(next_reading(), 1.0)
                break
            except asyncio.TimeoutError:
                continue
        await asyncio.sleep(0.3)
        db = sqlite3.connect(f"file:{root / 'edge.db'}?mode=ro", uri=True)
        for _ in range(n):
            # drain anything pending so each sample times one line
            await asyncio.sleep(0.03)
            last = db.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()[0]
            line = sim.next_frame(datetime.now(UTC))
            while b"SPO2=---" in line:
                line = sim.next_frame(datetime.now(UTC))
            t0 = time.perf_counter()
            port.write(line)
            await asyncio.wait_for(next_reading(), 5)
            to_stream.append((time.perf_counter() - t0) * 1000)
            while db.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()[0] <= last:
                await asyncio.sleep(0.0002)
            to_commit.append((time.perf_counter() - t0) * 1000)
            # the stream gives each of a line's readings: drain the other two
            for _ in range(2):
                await asyncio.wait_for(next_reading(), 5)
        await events.aclose()
        await client.aclose()
        db.close()
    finally:
        proc.terminate()
        proc.wait(10)
        port.close()
    return to_stream, to_commit


def serial_latency(quick: bool) -> list[Figure]:
    """Bytes written on the pty to the reading on the API stream, and to it being committed."""
    with tempfile.TemporaryDirectory(prefix="eb-") as d:
        to_stream, to_commit = asyncio.run(_latency(Path(d), 60 if quick else 400))
    return [Figure("pty bytes -> API stream, p50", pct(to_stream, 50), "ms", "", None),
            Figure("pty bytes -> API stream, p99", pct(to_stream, 99), "ms", "< 5 ms", pct(to_stream, 99) < 5),
            Figure("pty bytes -> committed, p50", pct(to_commit, 50), "ms", "", None),
            Figure("pty bytes -> committed, p99", pct(to_commit, 99), "ms", "< 50 ms", pct(to_commit, 99) < 50)]


async def _stored_latency(root: Path, protocol: str, n: int) -> list[float]:
    from firmware_bridge.simulate.ports import VirtualSerialPort
    from firmware_bridge.simulate.runner import simulator_for

    link = root / "tty0"
    port = VirtualSerialPort(link)
    proc = _daemon(root, f'[[devices]]\nname = "mon"\nprotocol = "{protocol}"\nport = "{link}"\n')
    sim = simulator_for(protocol, 1)
    samples: list[float] = []
    try:
        _wait(lambda: _api_up(root), 20)
        db = sqlite3.connect(f"file:{root / 'edge.db'}?mode=ro", uri=True)

        def top() -> int:
            return int(db.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()[0])

        for _ in range(40):  # warm up until the device is read
            port.write(sim.next_frame(datetime.now(UTC)))
            await asyncio.sleep(0.1)
            if top():
                break
        while len(samples) < n:
            await asyncio.sleep(0.05)
            port.read(65536)  # drain anything the bridge sent back (ACKs)
            before = top()
            frame = sim.next_frame(datetime.now(UTC))
            t0 = time.perf_counter()
            port.write(frame)
            deadline = t0 + 2
            while top() <= before and time.perf_counter() < deadline:
                await asyncio.sleep(0.0002)
            if top() > before:  # frames with no values (sensor off) store nothing: not a sample
                samples.append((time.perf_counter() - t0) * 1000)
        db.close()
    finally:
        proc.terminate()
        proc.wait(10)
        port.close()
    return samples


def protocol_latency(quick: bool) -> list[Figure]:
    """Per protocol: bytes written on the pty to the first reading of that write committed."""
    from firmware_bridge.codecs import implemented_protocols
    from firmware_bridge.simulate.runner import simulated_protocols

    out = []
    for protocol in implemented_protocols():
        if protocol not in simulated_protocols():
            continue
        with tempfile.TemporaryDirectory(prefix="eb-") as d:
            samples = asyncio.run(_stored_latency(Path(d), protocol, 20 if quick else 100))
        out.append(Figure(f"pty -> stored {protocol}, p50", pct(samples, 50), "ms", "", None))
        out.append(Figure(f"pty -> stored {protocol}, p99", pct(samples, 99), "ms", "< 50 ms", pct(samples, 99) < 50))
    return out


SECTIONS = {"codecs": codec_rates, "store": ingest_ratio, "start": cold_start, "latency": serial_latency,
            "protocols": protocol_latency}


def _system_sections() -> dict[str, Callable[[bool], list[Figure]]]:
    from benchmarks import system, uplink

    return {"memory": system.daemon_memory, "api": system.api_throughput, "tls": system.api_tls,
            "replug": system.replug, "tui": system.tui, "uplink": uplink.uplink_drain}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short mode (CI)")
    ap.add_argument("--only", choices=sorted([*SECTIONS, "memory", "api", "tls", "replug", "tui", "uplink"]),
                    action="append",
                    help="run only these sections")
    args = ap.parse_args()
    figures: list[Figure] = []
    sections = {**SECTIONS, **_system_sections()}
    print(f"{'figure':<48} {'value':>12} {'unit':<10} {'target':<22} result")
    for name, fn in sections.items():
        if args.only and name not in args.only:
            continue
        for f in fn(args.quick):
            print(f.row(), flush=True)
            figures.append(f)
    result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "quick": args.quick,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
              "figures": [asdict(f) for f in figures]}
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
