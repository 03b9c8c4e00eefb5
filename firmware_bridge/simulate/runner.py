"""Run a simulated monitor: pace its frames in real time to a port or a virtual pty (`edge-app simulate`)."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from firmware_bridge.protocols import SPECS, find_spec, resolve
from firmware_bridge.simulate.hl7 import simulate_tcp_main

if TYPE_CHECKING:
    # lazy: the pty only with --pty
    from firmware_bridge.simulate.ports import VirtualSerialPort

_LOGGER = logging.getLogger(__name__)


@runtime_checkable
class FrameSource(Protocol):
    """A simulated monitor: the bytes it sends for each tick, given the wall time of that tick."""

    baudrate: int

    def next_frame(self, when: datetime) -> bytes: ...


def simulated_protocols() -> list[str]:
    """Sorted names of the protocols whose registry spec names a frame source (--port, --pty)."""
    return sorted(str(s.name) for s in SPECS if s.frame_source is not None)


def simulator_for(protocol: str, seed: int | None = None, profile: str | None = None) -> FrameSource:
    """A fresh frame source (of the named profile: e.g. hl7-oru's "cuff"); ValueError names the protocols
    (or the profiles) that can be simulated."""
    spec = find_spec(protocol)
    if spec is None or spec.frame_source is None:
        over_ble = f"; {protocol} is Bluetooth LE: simulate it with --bus" if spec and spec.ble_simulator else ""
        raise ValueError(f"cannot simulate {protocol!r}; simulated protocols: {', '.join(simulated_protocols())}"
                         + over_ble)
    ref = spec.frame_source
    if profile is not None:
        profiles = dict(spec.frame_profiles)
        if profile not in profiles:
            known = ", ".join(profiles) or "none"
            raise ValueError(f"{protocol} has no simulated profile {profile!r} (profiles: {known})")
        ref = profiles[profile]
    factory = resolve(ref)
    source = factory(seed) if callable(factory) else None
    if not isinstance(source, FrameSource):
        raise TypeError(f"registry: {ref} does not make a FrameSource")
    return source


async def run_simulator(protocol: str, write: Callable[[bytes], None], *, rate_hz: float = 1.0,
                        seed: int | None = None, stop: asyncio.Event | None = None,
                        profile: str | None = None) -> int:
    """Write one frame per 1/rate_hz seconds until `stop` is set (or cancelled); returns frames written (a
    tick with nothing to send, as a cuff between cycles, writes nothing)."""
    if rate_hz <= 0:
        raise ValueError(f"rate must be positive, not {rate_hz}")
    source = simulator_for(protocol, seed, profile)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    period = 1.0 / rate_hz
    # A pty ignores the baud rate, so the simulator keeps time itself; ticks are scheduled on an absolute
    # grid so a slow write does not make the rate drift.
    next_tick = loop.time()
    sent = 0
    while not stop.is_set():
        frame = source.next_frame(datetime.now(UTC))
        if frame:
            _LOGGER.debug("simulator frame %r", frame)
            write(frame)
            sent += 1
        next_tick += period
        delay = next_tick - loop.time()
        if delay < -period:  # fell far behind (a suspended laptop): restart the grid, do not burst
            next_tick, delay = loop.time(), 0.0
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
        else:
            await asyncio.sleep(0)
    return sent


def _fail(message: str) -> int:
    print(f"edge-app simulate: {message}", file=sys.stderr)
    return 2


def _draining(vport: VirtualSerialPort) -> Callable[[bytes], None]:
    """vport.write that also drains what the reader sends back (HL7 ACKs): a pty never read fills up."""
    def write(data: bytes) -> None:
        vport.write(data)
        while vport.read(timeout=0):
            pass
    return write


def simulate_main(protocol: str, *, port: str | None, pty_link: str | None, rate_hz: float,
                  seed: int | None, listen: str | None = None, connect: str | None = None,
                  profile: str | None = None) -> int:
    """The `edge-app simulate` command: run until SIGINT/SIGTERM; 0 when stopped, 2 on bad arguments."""
    try:
        source = simulator_for(protocol, seed, profile)
    except ValueError as exc:
        return _fail(str(exc))
    if rate_hz <= 0:
        return _fail(f"--rate must be positive, not {rate_hz}")
    if sum(a is not None for a in (port, pty_link, listen, connect)) != 1:
        return _fail("give exactly one of --port PORT, --pty LINK, --listen HOST:PORT or --connect HOST:PORT")
    if listen is not None or connect is not None:
        if profile is not None:
            return _fail("--profile is for --port and --pty")
        return simulate_tcp_main(protocol, listen=listen, connect=connect, rate_hz=rate_hz, seed=seed)
    if pty_link is not None:
        # lazy: the pty only with --pty
        from firmware_bridge.simulate.ports import VirtualSerialPort

        try:
            vport = VirtualSerialPort(Path(pty_link))
        except OSError as exc:
            return _fail(f"cannot make a pty at {pty_link}: {exc.strerror or exc}")
        write, close, where = _draining(vport), vport.close, f"{pty_link} -> {vport.slave_name}"
    else:
        # lazy: pyserial only with --port
        import serial  # type: ignore[import-untyped]

        assert port is not None
        try:
            ser = serial.serial_for_url(port, baudrate=source.baudrate, write_timeout=2)
        except (serial.SerialException, OSError, ValueError) as exc:
            return _fail(f"cannot open {port}: {exc}")
        write, close, where = ser.write, ser.close, port
    what = f"{protocol} ({profile})" if profile else protocol
    print(f"simulating {what} on {where} at {rate_hz:g} Hz; Ctrl+C to stop", flush=True)
    try:
        return asyncio.run(_run_until_signal(protocol, write, rate_hz=rate_hz, seed=seed, profile=profile))
    except KeyboardInterrupt:  # Ctrl+C before the loop's own handler was installed
        return 0
    except OSError as exc:  # a real port that went away under us
        print(f"edge-app simulate: {port}: {exc}", file=sys.stderr)
        return 1
    finally:
        close()


async def _run_until_signal(protocol: str, write: Callable[[bytes], None], *, rate_hz: float,
                            seed: int | None, profile: str | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await run_simulator(protocol, write, rate_hz=rate_hz, seed=seed, stop=stop, profile=profile)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
