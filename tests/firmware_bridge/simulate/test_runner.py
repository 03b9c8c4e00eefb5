"""run_simulator pacing and stop; simulate_main as `edge-app simulate` runs it (a real process, a real pty)."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial  # type: ignore[import-untyped]

from firmware_bridge.codecs import codec_for
from firmware_bridge.simulate import run_simulator, simulate_main
from firmware_bridge.simulate.ports import VirtualSerialPort

ROOT = Path(__file__).parents[3]


async def test_paces_itself_at_about_rate_hz() -> None:
    frames: list[bytes] = []
    stop = asyncio.Event()
    task = asyncio.create_task(run_simulator("masimo-ascii", frames.append, rate_hz=20, seed=1, stop=stop))
    await asyncio.sleep(1.0)
    stop.set()
    sent = await asyncio.wait_for(task, 1)
    assert sent == len(frames)
    assert 10 <= len(frames) <= 30  # 20 expected; loose because machines are noisy
    codec = codec_for("masimo-ascii")
    for f in frames:
        codec.feed(f)
    assert codec.stats.frames_ok == len(frames) and codec.stats.frames_bad == 0


async def test_stop_is_prompt_even_at_a_slow_rate() -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_simulator("masimo-ascii", lambda _: None, rate_hz=0.2, stop=stop))
    await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(task, 0.5) == 1


async def test_unknown_protocol_or_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="masimo-ascii"):
        await run_simulator("gatt-plx", lambda _: None)
    with pytest.raises(ValueError):
        await run_simulator("masimo-ascii", lambda _: None, rate_hz=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"protocol": "bogus", "port": None, "pty_link": "/tmp/x"}, "cannot simulate 'bogus'"),
    ({"protocol": "masimo-ascii", "port": None, "pty_link": None}, "exactly one"),
    ({"protocol": "masimo-ascii", "port": "/nonexistent/ttyUSB9", "pty_link": None}, "cannot open /nonexistent"),
    ({"protocol": "masimo-ascii", "port": None, "pty_link": "/nonexistent/dir/tty"}, "cannot make a pty"),
])
def test_simulate_main_bad_arguments_exit_2(kwargs: dict[str, str | None], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate_main(rate_hz=1.0, seed=None, **kwargs) == 2  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def spawn(**kwargs: object) -> subprocess.Popen[str]:
    code = f"from firmware_bridge.simulate import simulate_main; raise SystemExit(simulate_main(**{kwargs!r}))"
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_simulate_main_on_a_pty_until_sigterm(tmp_path: Path) -> None:
    link = tmp_path / "ttySIM"
    p = spawn(protocol="masimo-ascii", port=None, pty_link=str(link), rate_hz=20.0, seed=1)
    try:
        assert p.stdout is not None
        banner = p.stdout.readline()
        assert banner.startswith(f"simulating masimo-ascii on {link} -> /dev/pts/") and "Ctrl+C" in banner
        with serial.Serial(str(link), 9600, timeout=2) as ser:
            ser.readline()  # may start mid-line
            codec = codec_for("masimo-ascii")
            got: list[object] = []
            deadline = time.monotonic() + 3
            while len(got) < 3 and time.monotonic() < deadline:
                got += codec.feed(ser.readline())
            assert got, "no readings from the simulator"
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=5)
    assert p.returncode == 0, err
    assert not link.is_symlink(), "the link goes with the simulator"


def test_simulate_main_writes_to_a_serial_port(vport: VirtualSerialPort) -> None:
    # Here the simulator is the side that opens a port (a USB adapter looped to the daemon's adapter).
    p = spawn(protocol="masimo-ascii", port=str(vport.link), pty_link=None, rate_hz=20.0, seed=1)
    try:
        assert p.stdout is not None
        assert p.stdout.readline().startswith(f"simulating masimo-ascii on {vport.link}")
        data = b""
        deadline = time.monotonic() + 3
        while data.count(b"\r\n") < 2 and time.monotonic() < deadline:
            data += vport.read(timeout=0.5)
        codec = codec_for("masimo-ascii")
        assert codec.feed(data), data
    finally:
        os.kill(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=5)
    assert p.returncode == 0, err
