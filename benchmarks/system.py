"""Whole-daemon figures: memory with four monitors, API throughput beside a bare Litestar app, replug."""
from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.figures import ROOT, Figure, _api_up, _daemon, _open_encounter, _wait, pct


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def daemon_memory(quick: bool) -> list[Figure]:
    """RSS of the daemon reading four simulated monitors (Masimo, two Nonin formats, HL7 over TCP)."""
    with tempfile.TemporaryDirectory(prefix="eb-") as d:
        root = Path(d)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            hl7_port = s.getsockname()[1]
        sims = [subprocess.Popen([sys.executable, "-m", "edge_app", "simulate", p, "--pty", str(root / f"tty-{p}"),
                                  "--rate", "5"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for p in ("masimo-ascii", "nonin-df7", "nonin-df2")]
        devices = "".join(f'[[devices]]\nname = "m{i}"\nprotocol = "{p}"\nport = "{root / f"tty-{p}"}"\n'
                          for i, p in enumerate(("masimo-ascii", "nonin-df7", "nonin-df2")))
        devices += f'[[devices]]\nname = "m3"\nprotocol = "hl7-oru"\nlisten = "127.0.0.1:{hl7_port}"\n'
        proc = _daemon(root, devices)
        sims.append(subprocess.Popen([sys.executable, "-m", "edge_app", "simulate", "hl7-oru", "--connect",
                                      f"127.0.0.1:{hl7_port}", "--rate", "5"], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            _wait(lambda: _api_up(root), 20)
            time.sleep(3 if quick else 20)
            rss = _rss_mb(proc.pid)
        finally:
            for p in [proc, *sims]:
                p.terminate()
                p.wait(10)
    return [Figure("daemon RSS, four monitors", rss, "MB", "< 80 MB", rss < 80)]


# The baseline: the same JSON from a bare Litestar app, served as the daemon serves (edge_app.daemon.run._servers):
# h11 on asyncio, named rather than "auto" (which would take httptools or uvloop if they happened to be
# installed), no proxy headers, no access log, the same keep-alive; TLS with the daemon's own certificate.
BARE_APP = textwrap.dedent('''
    import json, sys, uvicorn
    from litestar import Litestar, get
    DOC = json.loads(sys.argv[2])
    @get("/api/v1/encounters/{eid:str}", sync_to_thread=True)
    def one(eid: str) -> dict:
        return DOC
    app = Litestar([one], logging_config=None)
    same = dict(http="h11", loop="asyncio", proxy_headers=False, access_log=False, timeout_keep_alive=30,
                log_level="warning", lifespan="off")
    if sys.argv[1].startswith("tls:"):
        _, port, cert, key = sys.argv[1].split(":", 3)
        uvicorn.run(app, host="127.0.0.1", port=int(port), ssl_certfile=cert, ssl_keyfile=key, **same)
    else:
        uvicorn.run(app, uds=sys.argv[1], **same)
''')
# A typical encounter, as a tablet reads it during a job: an hour of a pulse oximeter (SpO2, pulse rate and
# perfusion index each second) is on it.
SEED_READINGS = 3 * 3600


def _seed(root: Path) -> None:
    """Create the database with one open encounter holding SEED_READINGS device readings (daemon not running)."""
    from edge_app.model.observation import NewObservation
    from edge_app.store import encounters
    from edge_app.store.observations import insert_device_observations
    from edge_app.store.writer import Writer

    writer = Writer(root / "edge.db")
    try:
        t0 = int(time.time() * 1000) - 3_600_000
        writer.submit(encounters.create_encounter(t0, "bench", "BENCH")).result(10)
        obs = [NewObservation(metric=m, value=v, unit=u, received_at=t0 + i * 1000, source="device",
                              device="oximeter")
               for i in range(SEED_READINGS // 3)
               for m, v, u in (("spo2", 97, "%"), ("pulse_rate", 72, "/min"), ("perfusion_index", 2.5, "%"))]
        writer.submit(insert_device_observations(obs)).result(60)
    finally:
        writer.close()


def _encounter(client: Any) -> dict[str, Any]:
    """The seeded encounter as the API shows it."""
    [doc] = client.get("/api/v1/encounters").json()
    assert doc["observation_count"] == SEED_READINGS, doc["observation_count"]
    return doc


Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


async def _load(connect: Connect, path: str, headers: dict[str, str], n: int,
                clients: int = 8) -> tuple[float, list[float]]:
    """n GETs of path from `clients` concurrent keep-alive HTTP/1.1 connections; (req/s, latencies in ms).

    A bare-bones client (one request written, the head read, then Content-Length bytes): with httpx the
    load generator took a whole core of this two-core machine and its own scheduling was most of the p99,
    for the bare app as much as for ours. Every answer must be 200 with a body."""
    request = (f"GET {path} HTTP/1.1\r\nHost: edge-app\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    lat: list[float] = []

    async def worker(count: int) -> None:
        reader, writer = await connect()
        try:
            for _ in range(count):
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                assert head.startswith(b"HTTP/1.1 200 ") and length, head
                await reader.readexactly(int(length.group(1)))
                lat.append((time.perf_counter() - t0) * 1000)
        finally:
            writer.close()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(n // clients) for _ in range(clients)))
    return len(lat) / (time.perf_counter() - t0), lat


def _unix(path: Path) -> Connect:
    return lambda: asyncio.open_unix_connection(str(path))


def _tls(port: int) -> Connect:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the daemon's self-signed certificate (tablets pin its fingerprint)
    return lambda: asyncio.open_connection("127.0.0.1", port, ssl=ctx)


def _compare(app: Connect, bare: Connect, path: str, headers: dict[str, str], n: int,
             rounds: int = 4) -> tuple[float, list[float], float, list[float]]:
    """Load the app and the bare baseline in alternating rounds, both servers up all along, so that other
    work on a shared machine weighs on both alike; req/s over all rounds and every latency, for each."""
    time_app = time_bare = 0.0
    lat_app: list[float] = []
    lat_bare: list[float] = []
    for _ in range(rounds):
        for connect, lat in ((app, lat_app), (bare, lat_bare)):
            rps, got = asyncio.run(_load(connect, path, headers if connect is app else {}, n // rounds))
            lat += got
            if connect is app:
                time_app += len(got) / rps
            else:
                time_bare += len(got) / rps
    return len(lat_app) / time_app, lat_app, len(lat_bare) / time_bare, lat_bare


def _bare(arg: str, doc: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", BARE_APP, arg, json.dumps(doc)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def api_throughput(quick: bool) -> list[Figure]:
    """GET one encounter with 8 concurrent keep-alive clients on the Unix socket, beside a bare Litestar
    app serving the same JSON the same way (same run, same machine: the ratio is the figure)."""
    import httpx

    n = 800 if quick else 5000
    with tempfile.TemporaryDirectory(prefix="eb-") as d:
        root = Path(d)
        _seed(root)
        proc = _daemon(root, "")
        bare = None
        try:
            _wait(lambda: _api_up(root), 20)
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(root / "api.sock")), base_url="http://x") as c:
                doc = _encounter(c)
            path = f"/api/v1/encounters/{doc['id']}"
            bare = _bare(str(root / "bare.sock"), doc)

            def up() -> bool:
                with httpx.Client(transport=httpx.HTTPTransport(uds=str(root / "bare.sock")), base_url="http://x") as c:
                    return c.get(path).status_code == 200
            _wait(up, 20)
            app_rps, app_lat, bare_rps, bare_lat = _compare(_unix(root / "api.sock"), _unix(root / "bare.sock"),
                                                            path, {}, n)
        finally:
            for p in (proc, bare):
                if p is not None:
                    p.terminate()
                    p.wait(10)
    ratio = app_rps / bare_rps
    return [Figure("API GET encounter, req/s (8 clients, socket)", app_rps, "req/s", "", None),
            Figure("bare Litestar same JSON, req/s", bare_rps, "req/s", "", None),
            Figure("API vs bare Litestar (ratio)", ratio, "x", ">= 0.5", ratio >= 0.5),
            Figure("API GET encounter, p99", pct(app_lat, 99), "ms", "< 10 ms", pct(app_lat, 99) < 10),
            Figure("bare Litestar, p99 (same run)", pct(bare_lat, 99), "ms", "", None)]


def replug(quick: bool) -> list[Figure]:
    """A monitor unplugged and plugged back: plug to its next reading committed, through the daemon."""
    from firmware_bridge.simulate.masimo import MasimoSimulator
    from firmware_bridge.simulate.ports import VirtualSerialPort

    samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="eb-") as d:
        root = Path(d)
        link = root / "tty0"
        port = VirtualSerialPort(link)
        proc = _daemon(root, f'[[devices]]\nname = "ox"\nprotocol = "masimo-ascii"\nport = "{link}"\n')
        sim = MasimoSimulator(3)
        try:
            _wait(lambda: _api_up(root), 20)
            db = sqlite3.connect(f"file:{root / 'edge.db'}?mode=ro", uri=True)

            def top() -> int:
                return int(db.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()[0])

            for _ in range(5 if quick else 30):
                port.unplug()
                time.sleep(0.3)
                before = top()
                port.plug()
                t0 = time.perf_counter()
                while top() <= before:
                    line = sim.next_frame(datetime.now(UTC))
                    if b"SPO2=---" not in line:
                        port.write(line)
                    time.sleep(0.01)
                    if time.perf_counter() - t0 > 5:
                        raise RuntimeError("monitor not read again within 5 s")
                samples.append(time.perf_counter() - t0)
            db.close()
        finally:
            proc.terminate()
            proc.wait(10)
            port.close()
    worst = max(samples)
    return [Figure("replug to next stored reading, median", sorted(samples)[len(samples) // 2] * 1000, "ms", "", None),
            Figure("replug to next stored reading, worst", worst * 1000, "ms", "< 1000 ms", worst < 1.0)]


def api_tls(quick: bool) -> list[Figure]:
    """A paired tablet's GET over TLS with 8 keep-alive clients, beside a bare Litestar app with the same
    certificate serving the same JSON (same run)."""
    import httpx

    n = 800 if quick else 5000
    with tempfile.TemporaryDirectory(prefix="eb-") as d:
        root = Path(d)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            bare_port = s.getsockname()[1]
        _seed(root)
        proc = _daemon(root, "", extra_api=f'listen = "0.0.0.0:{port}"')
        bare = None
        try:
            _wait(lambda: _api_up(root), 20)
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(root / "api.sock")), base_url="http://x") as c:
                doc = _encounter(c)
                code = c.post("/api/v1/pairing-codes", json={}).json()["code"]
            token = httpx.post(f"https://127.0.0.1:{port}/api/v1/pair", json={"code": code, "name": "bench"},
                               verify=False).json()["token"]
            path = f"/api/v1/encounters/{doc['id']}"
            cert, key = root / "tls" / "tablet.crt", root / "tls" / "tablet.key"
            bare = _bare(f"tls:{bare_port}:{cert}:{key}", doc)
            _wait(lambda: httpx.get(f"https://127.0.0.1:{bare_port}{path}", verify=False).status_code == 200, 20)
            app_rps, app_lat, bare_rps, bare_lat = _compare(_tls(port), _tls(bare_port), path,
                                                            {"Authorization": f"Bearer {token}"}, n)
        finally:
            for p in (proc, bare):
                if p is not None:
                    p.terminate()
                    p.wait(10)
    ratio = app_rps / bare_rps
    return [Figure("tablet GET over TLS, req/s (8 clients)", app_rps, "req/s", "", None),
            Figure("bare Litestar over TLS, req/s", bare_rps, "req/s", "", None),
            Figure("tablet API vs bare Litestar, TLS (ratio)", ratio, "x", ">= 0.5", ratio >= 0.5),
            Figure("tablet GET over TLS, p50", pct(app_lat, 50), "ms", "", None),
            Figure("tablet GET over TLS, p99", pct(app_lat, 99), "ms", "< 10 ms", pct(app_lat, 99) < 10),
            Figure("bare Litestar over TLS, p50 (same run)", pct(bare_lat, 50), "ms", "", None),
            Figure("bare Litestar over TLS, p99 (same run)", pct(bare_lat, 99), "ms", "", None)]


async def _tui_draw(root: Path, n: int) -> tuple[list[float], float]:
    """Drive the real TUI (headless, Textual's Pilot) against a daemon with an open encounter; time a line
    written on the pty until its SpO2 is in the tile's caption (committed, then the vitals tick's event)."""
    from textual.widgets import Static

    from edge_app.tui.app import VitalsApp
    from firmware_bridge.simulate.masimo import masimo_line
    from firmware_bridge.simulate.patient import Vitals
    from firmware_bridge.simulate.ports import VirtualSerialPort

    link = root / "tty0"
    port = VirtualSerialPort(link)
    proc = _daemon(root, f'[[devices]]\nname = "ox"\nprotocol = "masimo-ascii"\nport = "{link}"\n')
    samples: list[float] = []
    try:
        await asyncio.get_running_loop().run_in_executor(None, _wait, lambda: _api_up(root), 20)
        await asyncio.get_running_loop().run_in_executor(None, _open_encounter, root)
        app = VitalsApp(root / "api.sock")
        async with app.run_test(size=(100, 30)) as pilot:
            caption = app.query_one("#tile-spo2 .tile-caption", Static)
            for i in range(n):
                spo2 = 80 + (i % 19)
                port.write(masimo_line(Vitals(spo2, 70 + i % 9, 3.5), datetime.now(UTC), serial_number="0000000001"))
                t0 = time.perf_counter()
                while f"SpO2 {spo2} %" not in str(caption.content):
                    await pilot.pause(0.001)
                    if time.perf_counter() - t0 > 5:
                        raise RuntimeError("reading never drawn")
                samples.append((time.perf_counter() - t0) * 1000)
                await pilot.pause(0.05)
            rss = _rss_mb(os.getpid())
    finally:
        proc.terminate()
        proc.wait(10)
        port.close()
    return samples, rss


def _cab_tui_rss(root: Path, seconds: float) -> tuple[float, float]:
    """`edge-app tui` as the cab runs it: its own process on a terminal (a pty, 100x30), against a daemon
    with a monitor sending each second, for `seconds`; its RSS then, and its peak (VmHWM)."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    link = root / "tty-ox"
    sim = subprocess.Popen([sys.executable, "-m", "edge_app", "simulate", "masimo-ascii", "--pty", str(link),
                            "--rate", "1"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = _daemon(root, f'[[devices]]\nname = "ox"\nprotocol = "masimo-ascii"\nport = "{link}"\n')
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    screen = bytearray()

    def drain() -> None:  # a terminal that reads everything, so the TUI never blocks on its output
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            screen.extend(chunk[-4096:])
            del screen[:-8192]

    tui_proc: subprocess.Popen[bytes] | None = None
    try:
        _wait(lambda: _api_up(root), 20)
        _open_encounter(root)
        tui_proc = subprocess.Popen([sys.executable, "-m", "edge_app", "tui", "--config", str(root / "config.toml")],
                                    cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                    env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"})
        os.close(slave)
        threading.Thread(target=drain, daemon=True).start()
        time.sleep(seconds)
        if tui_proc.poll() is not None:
            raise RuntimeError(f"the TUI exited ({tui_proc.returncode}): {bytes(screen)[-500:]!r}")
        if b"SpO2" not in screen:
            raise RuntimeError("the TUI drew no SpO2 tile")
        status = Path(f"/proc/{tui_proc.pid}/status").read_text()
        rss, peak = (int(re.search(rf"^{k}:\s+(\d+)", status, re.M).group(1)) / 1024  # type: ignore[union-attr]
                     for k in ("VmRSS", "VmHWM"))
    finally:
        for p in (tui_proc, proc, sim):
            if p is not None:
                p.terminate()
                p.wait(10)
        os.close(master)
    return rss, peak


def tui(quick: bool) -> list[Figure]:
    """A reading written on the pty to it drawn on the cab screen; memory of `edge-app tui` as the cab runs it."""
    with tempfile.TemporaryDirectory(prefix="eb-") as d:
        samples, in_bench = asyncio.run(_tui_draw(Path(d), 20 if quick else 100))
    with tempfile.TemporaryDirectory(prefix="eb-") as d:
        rss, peak = _cab_tui_rss(Path(d), 10 if quick else 60)
    return [Figure("pty reading -> drawn on the TUI, p50", pct(samples, 50), "ms", "", None),
            Figure("pty reading -> drawn on the TUI, p99", pct(samples, 99), "ms", "", None),
            Figure("TUI RSS (edge-app tui on a terminal, live monitor)", rss, "MB", "< 60 MB", rss < 60),
            Figure("TUI peak RSS (VmHWM, same process)", peak, "MB", "< 60 MB", peak < 60),
            Figure("RSS of the Pilot process above (TUI + benchmark + simulator)", in_bench, "MB", "", None)]
