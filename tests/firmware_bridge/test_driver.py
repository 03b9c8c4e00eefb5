"""Driver: SerialTransport + MasimoAsciiCodec over a real pty (unplug, replug, absent port) and with fakes."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path

import pytest

from firmware_bridge.codecs.masimo_ascii import MasimoAsciiCodec
from firmware_bridge.driver import DeviceState, Driver, DriverStatus
from firmware_bridge.errors import TransportError
from firmware_bridge.reading import Reading
from firmware_bridge.simulate.ports import VirtualSerialPort
from firmware_bridge.transports.base import PortAbsentError, Transport
from firmware_bridge.transports.serial import SerialTransport
from tests.firmware_bridge.waiting import wait_for

# Real Rad-8 capture, ASCII 1 (yahnatan/pulseox README.md).
RAD8 = b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n"
# Rad-8 with no sensor (nmenon/masimo-datacapture masimo-capture.py, comment in _parse_rad8_serial_1).
NO_SENSOR = b"03/19/16 13:37:12 SN=0000093112 SPO2=---% BPM=---% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000001\r\n"


class Recorder:
    """Collects what a driver reports."""

    def __init__(self) -> None:
        self.readings: list[tuple[list[Reading], int]] = []
        self.statuses: list[DriverStatus] = []

    def on_readings(self, readings: list[Reading], received_at: int) -> None:
        self.readings.append((readings, received_at))

    def on_status(self, status: DriverStatus) -> None:
        self.statuses.append(status)

    @property
    def state(self) -> DeviceState | None:
        return self.statuses[-1].state if self.statuses else None

    def states(self) -> list[str]:
        return [str(s.state) for s in self.statuses]


@pytest.fixture
async def running(vport: VirtualSerialPort) -> AsyncIterator[tuple[Driver, Recorder, asyncio.Task[None]]]:
    rec = Recorder()
    driver = Driver("oximeter", SerialTransport(str(vport.link)), MasimoAsciiCodec(),
                    on_readings=rec.on_readings, on_status=rec.on_status)
    task = asyncio.create_task(driver.run())
    yield driver, rec, task
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def feed_until_readings(vport: VirtualSerialPort, rec: Recorder, timeout: float = 3.0) -> float:
    """Write a line every 20 ms (like a monitor, faster) until a reading arrives; return seconds taken."""
    start, have = time.monotonic(), len(rec.readings)
    while len(rec.readings) == have:
        if time.monotonic() - start > timeout:
            pytest.fail(f"no readings within {timeout} s; statuses: {rec.states()}")
        if vport.plugged:
            vport.write(RAD8)
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def test_readings_arrive_with_receive_time(running: tuple[Driver, Recorder, asyncio.Task[None]],
                                                 vport: VirtualSerialPort) -> None:
    driver, rec, _ = running
    await wait_for(lambda: rec.state == DeviceState.CONNECTED, what="connected")
    before = time.time_ns() // 1_000_000
    vport.write(RAD8)
    await wait_for(lambda: rec.readings, what="readings")
    readings, received_at = rec.readings[0]
    assert {str(r.metric): r.value for r in readings} == {"spo2": 98, "pulse_rate": 97, "perfusion_index": 3.6}
    assert before <= received_at <= time.time_ns() // 1_000_000
    st = driver.status
    assert st.state == DeviceState.CONNECTED and str(vport.link) in st.detail
    assert st.last_frame_ms == received_at
    assert st.counters["opens"] == 1 and st.counters["frames_ok"] == 1 and st.counters["bytes_in"] == len(RAD8)
    assert st.status_flags == ("masimo_set",)


async def test_unplug_then_replug_resumes_within_a_second(running: tuple[Driver, Recorder, asyncio.Task[None]],
                                                          vport: VirtualSerialPort) -> None:
    driver, rec, task = running
    await feed_until_readings(vport, rec)
    vport.unplug()
    await wait_for(lambda: rec.state in (DeviceState.SEARCHING, DeviceState.ERROR), what="unplug noticed")
    await wait_for(lambda: rec.state == DeviceState.SEARCHING, what="searching for the port")
    assert "error" in rec.states()  # the hang-up itself was reported, with why
    await asyncio.sleep(0.6)  # cable out long enough for the backoff to reach its cap
    vport.plug()
    took = await feed_until_readings(vport, rec)
    assert took < 1.0, f"replugged monitor read again after {took:.2f} s"
    assert not task.done()
    st = driver.status
    assert st.state == DeviceState.CONNECTED
    assert st.counters["opens"] == 2 and st.counters["disconnects"] == 1
    assert st.counters["frames_ok"] >= 2  # counters survive the reconnect


async def test_absent_port_at_start_is_searched_for(tmp_path: Path) -> None:
    link = tmp_path / "ttyLATE"
    rec = Recorder()
    driver = Driver("late", SerialTransport(str(link)), MasimoAsciiCodec(),
                    on_readings=rec.on_readings, on_status=rec.on_status)
    task = asyncio.create_task(driver.run())
    try:
        await wait_for(lambda: rec.state == DeviceState.SEARCHING, what="searching")
        await asyncio.sleep(0.3)
        searching = [s for s in rec.statuses if s.state == DeviceState.SEARCHING]
        assert len(searching) == 1, "retries of an absent port are not news"
        with VirtualSerialPort(link) as port:
            await wait_for(lambda: rec.state == DeviceState.CONNECTED, timeout=1.0, what="connected")
            await feed_until_readings(port, rec)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert rec.states()[-1] == "stopped"


async def test_event_loop_is_never_blocked(running: tuple[Driver, Recorder, asyncio.Task[None]],
                                           vport: VirtualSerialPort) -> None:
    _, rec, _ = running
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await feed_until_readings(vport, rec)
    await asyncio.sleep(0.3)  # connected and idle: a blocking read would stall here
    vport.unplug()
    await asyncio.sleep(0.3)  # searching
    vport.plug()
    await feed_until_readings(vport, rec)
    tick.cancel()
    assert len(gaps) > 40
    assert max(gaps) < 0.2, f"event loop stalled for {max(gaps):.3f} s"


async def test_cancel_closes_the_port_and_reports_stopped(running: tuple[Driver, Recorder, asyncio.Task[None]],
                                                          vport: VirtualSerialPort) -> None:
    driver, rec, task = running
    await wait_for(lambda: rec.state == DeviceState.CONNECTED, what="connected")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rec.state == DeviceState.STOPPED and driver.status.state == DeviceState.STOPPED
    assert not driver.transport.is_open
    other = SerialTransport(str(vport.link))  # the exclusive lock was released
    await other.open()
    await other.close()


async def test_unopenable_port_is_an_error_with_a_one_line_detail(tmp_path: Path) -> None:
    not_a_tty = tmp_path / "notatty"
    not_a_tty.write_bytes(b"")
    rec = Recorder()
    driver = Driver("x", SerialTransport(str(not_a_tty)), MasimoAsciiCodec(),
                    on_readings=rec.on_readings, on_status=rec.on_status)
    task = asyncio.create_task(driver.run())
    try:
        await wait_for(lambda: rec.state == DeviceState.ERROR, what="error")
        assert rec.statuses[-1].detail and "\n" not in rec.statuses[-1].detail
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# ---------------------------------------------------------------- with a fake transport


class FakeTransport(Transport):
    """Chunks from a queue; an exception in the queue is raised by read(); open can be made to fail."""

    def __init__(self, absent_opens: int = 0) -> None:
        self.chunks: asyncio.Queue[bytes | Exception] = asyncio.Queue()
        self.absent_opens = absent_opens
        self.open_times: list[float] = []
        self.written: list[bytes] = []
        self._open = False

    async def open(self) -> None:
        self.open_times.append(time.monotonic())
        if len(self.open_times) <= self.absent_opens:
            raise PortAbsentError("fake: not present")
        self._open = True

    async def read(self) -> bytes:
        item = await self.chunks.get()
        if isinstance(item, Exception):
            raise item
        return item

    async def write(self, data: bytes) -> None:
        self.written.append(data)

    async def close(self) -> None:
        self._open = False

    def describe(self) -> str:
        return "fake"

    @property
    def is_open(self) -> bool:
        return self._open


class ExplodingCodec(MasimoAsciiCodec):
    """A codec with a bug: any chunk containing BOOM raises."""

    def feed(self, data: bytes) -> list[Reading]:
        if b"BOOM" in data:
            raise RuntimeError("codec bug")
        return super().feed(data)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_codec_bug_is_logged_counted_and_survived(caplog: pytest.LogCaptureFixture) -> None:
    fake, rec = FakeTransport(), Recorder()
    driver = Driver("x", fake, ExplodingCodec(), on_readings=rec.on_readings, on_status=rec.on_status,
                    clock_ms=lambda: 1234)
    task = asyncio.create_task(driver.run())
    fake.chunks.put_nowait(RAD8[:30])  # half a line, lost with the codec that broke
    fake.chunks.put_nowait(b"BOOM")
    fake.chunks.put_nowait(RAD8)
    await wait_for(lambda: rec.readings, what="readings after the codec bug")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rec.readings[0][1] == 1234
    assert {str(r.metric): r.value for r in rec.readings[0][0]}["spo2"] == 98
    assert driver.status.counters["codec_errors"] == 1
    assert driver.status.counters["bytes_in"] == 30 + len(RAD8)  # counted across the codec reset
    warned = [r for r in caplog.records if r.levelname == "WARNING" and "codec" in r.getMessage()]
    assert warned and warned[0].exc_info is not None


async def test_status_is_emitted_on_flag_changes_not_per_reading() -> None:
    fake, rec = FakeTransport(), Recorder()
    driver = Driver("x", fake, MasimoAsciiCodec(), on_readings=rec.on_readings, on_status=rec.on_status)
    task = asyncio.create_task(driver.run())
    await wait_for(lambda: rec.state == DeviceState.CONNECTED, what="connected")
    for _ in range(5):
        fake.chunks.put_nowait(RAD8)
    await wait_for(lambda: len(rec.readings) == 5, what="5 lines")
    flags_seen = [s.status_flags for s in rec.statuses]
    assert flags_seen.count(("masimo_set",)) == 1
    fake.chunks.put_nowait(NO_SENSOR)
    await wait_for(lambda: rec.statuses[-1].status_flags == ("no_sensor",), what="sensor-off status")
    fake.chunks.put_nowait(RAD8)
    await wait_for(lambda: rec.statuses[-1].status_flags == ("masimo_set",), what="sensor back")
    await settle()
    assert [s.status_flags for s in rec.statuses][-3:] == [("masimo_set",), ("no_sensor",), ("masimo_set",)]
    assert len(rec.statuses) == 4  # connected, masimo_set, no_sensor, masimo_set
    assert driver.status.last_frame_ms is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_backoff_grows_then_resets_after_a_good_open() -> None:
    fake, rec = FakeTransport(absent_opens=5), Recorder()
    driver = Driver("x", fake, MasimoAsciiCodec(), on_readings=rec.on_readings, on_status=rec.on_status)
    task = asyncio.create_task(driver.run())
    await wait_for(lambda: rec.state == DeviceState.CONNECTED, timeout=3, what="connected")
    waits = [b - a for a, b in pairwise(fake.open_times)]
    assert waits[0] < 0.15 and waits[-1] > waits[0] * 3  # 0.05 s, doubling
    assert max(waits) < 0.8  # capped at 0.5 s
    fake.chunks.put_nowait(TransportError("fake: hang-up"))
    await wait_for(lambda: len(fake.open_times) == 7, what="reopen")
    assert fake.open_times[6] - fake.open_times[5] < 0.3, "backoff reset after the good open"
    assert "error" in rec.states()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_failing_callback_does_not_stop_the_driver() -> None:
    fake = FakeTransport()
    statuses: list[DriverStatus] = []

    def bad_readings(readings: list[Reading], at: int) -> None:
        raise ValueError("receiver bug")

    driver = Driver("x", fake, MasimoAsciiCodec(), on_readings=bad_readings, on_status=statuses.append)
    task = asyncio.create_task(driver.run())
    fake.chunks.put_nowait(RAD8)
    fake.chunks.put_nowait(RAD8)
    await wait_for(lambda: driver.status.counters["frames_ok"] == 2, what="both lines")
    assert driver.status.counters["callback_errors"] == 2
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class BuggyTransport(FakeTransport):
    """read() fails with a plain exception the first time: a transport bug, not a lost link."""

    async def read(self) -> bytes:
        if len(self.open_times) == 1:
            raise KeyError("transport bug")
        return await super().read()


async def test_a_transport_bug_is_retried_like_a_lost_link() -> None:
    fake, rec = BuggyTransport(), Recorder()
    driver = Driver("x", fake, MasimoAsciiCodec(), on_readings=rec.on_readings, on_status=rec.on_status)
    task = asyncio.create_task(driver.run())
    fake.chunks.put_nowait(RAD8)
    await wait_for(lambda: rec.readings, what="readings after the transport bug")
    assert "read failed: KeyError" in " ".join(s.detail for s in rec.statuses)
    assert driver.status.counters["opens"] == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class TalkingCodec(MasimoAsciiCodec):
    """A codec that greets the device on connect and acknowledges every decoded line (like HL7's ACK)."""

    def __init__(self, greeting: bytes = b"HELLO") -> None:
        super().__init__()
        self.greeting = greeting
        self._owed = b""

    def on_connect(self) -> bytes:
        return self.greeting

    def feed(self, data: bytes) -> list[Reading]:
        before = self.stats.frames_ok
        readings = super().feed(data)
        self._owed += b"ACK" * (self.stats.frames_ok - before)
        return readings

    def take_output(self) -> bytes:
        out, self._owed = self._owed, b""
        return out


async def test_codec_output_is_written_on_connect_and_after_each_frame() -> None:
    fake, rec = FakeTransport(), Recorder()
    # The factory keeps the codec's settings across the fresh codec each connection gets.
    driver = Driver("x", fake, TalkingCodec(b"FMT2"), on_readings=rec.on_readings, on_status=rec.on_status,
                    codec_factory=lambda: TalkingCodec(b"FMT2"))
    task = asyncio.create_task(driver.run())
    fake.chunks.put_nowait(RAD8 + RAD8)
    await wait_for(lambda: len(fake.written) >= 2, what="greeting and acks written")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.written == [b"FMT2", b"ACKACK"]
