"""One supervisor per configured monitor: runs its driver, shows readings live, hands them to the store."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
import dataclasses
from dataclasses import asdict

import msgspec

from firmware_bridge.codecs import Codec, codec_for
from firmware_bridge.flags import BP_INCONSISTENT
from firmware_bridge.metrics import Metric
from firmware_bridge.driver import Driver, DriverStatus
from firmware_bridge.protocols import spec_for
from firmware_bridge.reading import Reading
from firmware_bridge.transports.base import Transport
from firmware_bridge.transports.serial import SerialTransport
from firmware_bridge.transports.tcp import TcpConnectTransport, TcpListenTransport

from edge_app.clock import now_ms
from edge_app.config import DeviceConfig
from edge_app.errors import StoreError
from edge_app.model.devices import Device, LatestValue
from edge_app.model.events import DeviceChanged, LiveReading
from edge_app.model.observation import NewObservation
from edge_app.services.hub import Hub
from edge_app.store.devices import set_device_info
from edge_app.store.observations import insert_device_observations
from edge_app.store.writer import Writer

_LOGGER = logging.getLogger(__name__)


# About 4 hours of a 3-reading/s monitor: enough to ride out a full disk until a technician comes.
UNSTORED_MAX = 50_000
RETRY_BATCH = 5_000


# A wall clock that moves this much more or less than the monotonic clock between two readings was stepped.
CLOCK_STEP_MS = 2_000
# Monotonic, and counting time suspended as the wall clock does (so a resume is no "step").
_STEADY_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


class WallClockWatch:
    """Notices the wall clock being stepped (NTP or GPS correcting it) by comparing how far it moved with
    how far the monotonic clock moved. Nothing depends on it: order is kept by sequence whatever the
    clock does; the log line explains why received_at went back (or jumped ahead)."""

    def __init__(self) -> None:
        self._last: tuple[int, int] | None = None  # (wall ms, monotonic ms) at the last check

    def check(self, wall_ms: int, mono_ms: int | None = None) -> int:
        """The step since the last check in ms (negative: back); 0 if under CLOCK_STEP_MS."""
        mono_ms = time.clock_gettime_ns(_STEADY_CLOCK) // 1_000_000 if mono_ms is None else mono_ms
        last, self._last = self._last, (wall_ms, mono_ms)
        if last is None:
            return 0
        step = (wall_ms - last[0]) - (mono_ms - last[1])
        if abs(step) < CLOCK_STEP_MS:
            return 0
        _LOGGER.warning("the wall clock was stepped %s by %.1f s: readings from now on carry the corrected "
                        "time; their order is kept by sequence",
                        "back" if step < 0 else "forward", abs(step) / 1000)
        return step


def make_transport(cfg: DeviceConfig) -> Transport:
    """Serial (any pyserial URL); tcp://HOST:PORT out or listen in where the protocol takes TCP; BLE by bleak."""
    spec = spec_for(cfg.protocol)
    if spec.ble is not None:
        # lazy: bleak and dbus-fast cost start-up time, and only a BLE device needs them.
        from firmware_bridge.transports.ble import BleTransport

        return BleTransport(cfg.address, f"{spec.ble.service:04x}", [f"{c:04x}" for c in spec.ble.characteristics])
    if cfg.listen is not None:
        return TcpListenTransport(*cfg.listen)
    port = cfg.port or ""
    if port.startswith("tcp://"):
        host, _, num = port.removeprefix("tcp://").rstrip("/").rpartition(":")
        return TcpConnectTransport(host.strip("[]"), int(num))
    return SerialTransport(port, baudrate=cfg.baudrate)


def flag_inconsistent_bp(readings: list[Reading]) -> list[Reading]:
    """A frame whose systolic is at or below its own diastolic is a failed measurement (a systolic is above
    the diastolic by definition): both are stored, flagged BP_INCONSISTENT (unreliable: never current)."""
    by = {r.metric: r for r in readings}
    sys_, dia = by.get(Metric.BP_SYSTOLIC), by.get(Metric.BP_DIASTOLIC)
    if sys_ is None or dia is None or not (isinstance(sys_.value, int | float) and isinstance(dia.value, int | float)):
        return readings
    if sys_.value > dia.value:
        return readings
    return [dataclasses.replace(r, flags=(*r.flags, BP_INCONSISTENT)) if r in (sys_, dia) else r for r in readings]


class DeviceSupervisor:
    """Owns one driver task. Readings go to the live stream at once and to the writer in the same
    call; `committed` counts what the store has confirmed. A store failure is counted, never hidden."""

    clock = WallClockWatch()  # one for all devices: a step is logged once

    def __init__(self, cfg: DeviceConfig, writer: Writer, hub: Hub,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.cfg = cfg
        self.writer = writer
        self.hub = hub
        self.on_change = on_change
        self.latest: dict[str, LatestValue] = {}
        self.status: DriverStatus | None = None
        self.received = 0
        self.committed = 0
        self.store_failures = 0
        self.last_store_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._published: Device | None = None  # the last snapshot told to the stream, latest values aside
        self._unstored: deque[NewObservation] = deque(maxlen=UNSTORED_MAX)
        self.dropped = 0
        self.driver = Driver(cfg.name, make_transport(cfg), self._new_codec(), on_readings=self._on_readings,
                             on_status=self._on_status, clock_ms=now_ms, codec_factory=self._new_codec)

    def _new_codec(self) -> Codec:
        """A codec for a fresh connection; the clock is read here, at connect time, never by the codec."""
        options = spec_for(self.cfg.protocol).codec_options(asdict(self.cfg), now_ms)
        return codec_for(self.cfg.protocol, **options)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.driver.run(), name=f"device:{self.cfg.name}")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        except Exception:
            _LOGGER.exception("device %s driver ended with an error", self.cfg.name)

    @property
    def state(self) -> str:
        return str(self.driver.status.state)

    def _on_readings(self, readings: list[Reading], received_at: int) -> None:
        self.clock.check(received_at)
        self.received += len(readings)
        readings = flag_inconsistent_bp(readings)
        obs = [NewObservation(metric=str(r.metric), value=r.value, unit=r.unit, received_at=received_at,
                              source="device", device=self.cfg.name, device_time=r.device_time, flags=r.flags)
               for r in readings]
        name = self.cfg.name
        for r in readings:
            flags = list(r.flags)
            metric = str(r.metric)
            self.latest[metric] = LatestValue(value=r.value, unit=r.unit, time=received_at, device_time=r.device_time,
                                              flags=flags)
            self.hub.publish(LiveReading(device=name, metric=metric, value=r.value, unit=r.unit, time=received_at,
                                         device_time=r.device_time, flags=flags))
        self.store(obs)

    def store(self, obs: list[NewObservation]) -> None:
        """Hand one frame's readings to the writer: `committed` counts them once their transaction has
        committed; if the commit fails they are kept for retry_unstored. (benchmarks/ measures this path.)"""
        self.writer.submit_then(insert_device_observations(obs), self._stored)

    def _stored(self, op: insert_device_observations, ids: Sequence[int] | None,
                exc: BaseException | None) -> None:
        # Runs on the writer thread: only counters and a thread-safe deque here.
        if exc is None:
            self.committed += len(ids or ())
            self.last_store_error = None
            return
        self.store_failures += 1
        self.last_store_error = str(exc)
        if isinstance(exc, StoreError):
            # The commit failed (disk full, I/O error): nothing of it is stored, so keep the readings and
            # try again; never drop them. Bounded: past it the oldest go, and that is counted and logged.
            for o in op.obs:
                if len(self._unstored) == self._unstored.maxlen:
                    self.dropped += 1
                self._unstored.append(o)
        else:
            _LOGGER.error("device %s: %d readings refused by the store (a bug): %s", self.cfg.name, len(op.obs), exc)

    def retry_unstored(self) -> int:
        """Resubmit readings whose commit failed (called once a second); the number resubmitted."""
        batch: list[NewObservation] = []
        while self._unstored and len(batch) < RETRY_BATCH:
            batch.append(self._unstored.popleft())
        if batch:
            self.store(batch)
        return len(batch)

    def _on_status(self, status: DriverStatus) -> None:
        old = self.status.state if self.status else None
        self.status = status
        info = getattr(self.driver.transport, "device_info", None)
        if status.state != old and str(status.state) == "connected" and info:
            self.writer.submit(set_device_info(self.cfg.name, dict(info), now_ms()))
        if status.state != old:
            _LOGGER.info("device %s: %s%s", self.cfg.name, status.state, f" ({status.detail})" if status.detail else "")
        self._publish()
        self.on_change()

    def _publish(self, snap: Device | None = None) -> None:
        snap = snap or self.describe()
        self._published = msgspec.structs.replace(snap, latest={})
        self.hub.publish(DeviceChanged(**msgspec.structs.asdict(snap)))

    def publish_if_changed(self) -> None:
        """Counters and last-frame time move with every frame; tell the stream about them once a second at most."""
        snap = self.describe()
        if msgspec.structs.replace(snap, latest={}) != self._published:
            self._publish(snap)

    @property
    def unstored(self) -> int:
        """Readings whose commit failed, held for retry_unstored."""
        return len(self._unstored)

    def describe(self) -> Device:
        """The device as /api/v1/devices shows it."""
        st = self.driver.status  # live counters, not the last emitted snapshot
        counters: dict[str, int] = dict(st.counters)
        counters.update(received=self.received, committed=self.committed, store_failures=self.store_failures,
                        unstored=len(self._unstored), dropped=self.dropped)
        return Device(name=self.cfg.name, protocol=self.cfg.protocol, port=self.cfg.port, state=str(st.state),
                      detail=st.detail, since=st.since_ms, last_frame_at=st.last_frame_ms,
                      status_flags=list(st.status_flags), counters=counters, latest=dict(self.latest),
                      info=dict(getattr(self.driver.transport, "device_info", None) or {}))
