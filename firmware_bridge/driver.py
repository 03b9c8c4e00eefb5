"""A driver joins one transport and one codec: read, decode, report, and reconnect until cancelled."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from firmware_bridge.codecs.base import Codec, CodecStats
from firmware_bridge.errors import TransportError
from firmware_bridge.reading import Reading
from firmware_bridge.transports.base import PortAbsentError, Transport

_LOGGER = logging.getLogger(__name__)

# A replugged monitor must be read again within 1 s: first retry soon, never wait more than half that.
BACKOFF_START_S = 0.05
BACKOFF_MAX_S = 0.5


def wall_clock_ms() -> int:
    """Now as UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000


class DeviceState(StrEnum):
    SEARCHING = "searching"  # the port is not there (yet); waiting for it
    CONNECTED = "connected"  # the port is open; frames may or may not be arriving
    ERROR = "error"  # the port is there but failed (hang-up, permission, lock); retrying
    STOPPED = "stopped"  # the driver was cancelled


@dataclass(frozen=True, slots=True)
class DriverStatus:
    """A snapshot of one driver for status screens, the API and logs."""

    name: str
    state: DeviceState
    detail: str
    since_ms: int
    last_frame_ms: int | None
    counters: dict[str, int] = field(default_factory=dict)
    status_flags: tuple[str, ...] = ()


class Driver:
    """Runs one monitor until cancelled; a lost link or a codec bug never ends it."""

    def __init__(self, name: str, transport: Transport, codec: Codec, *,
                 on_readings: Callable[[list[Reading], int], None],
                 on_status: Callable[[DriverStatus], None],
                 clock_ms: Callable[[], int] = wall_clock_ms,
                 codec_factory: Callable[[], Codec] | None = None) -> None:
        self.name = name
        self.transport = transport
        self._codec = codec
        # Codecs with settings (e.g. a data format chosen in config) pass a factory that keeps them.
        self._codec_factory: Callable[[], Codec] = codec_factory or type(codec)
        self._on_readings = on_readings
        self._on_status = on_status
        self._clock_ms = clock_ms
        self._state = DeviceState.SEARCHING
        self._detail = "starting"
        self._since_ms = clock_ms()
        self._last_frame_ms: int | None = None
        # Stats of codecs already replaced (each connection starts a fresh codec), so counters never go back.
        self._past = CodecStats()
        self._past_skipped: Counter[str] = Counter()  # values the replaced codecs passed over, by reason
        self._opens = 0
        self._disconnects = 0
        self._codec_errors = 0
        self._callback_errors = 0
        self._flags: tuple[str, ...] = ()

    @property
    def codec(self) -> Codec:
        """The codec decoding the current connection."""
        return self._codec

    @property
    def status(self) -> DriverStatus:
        """The latest status, with counters as of now."""
        stats = self._codec.stats
        counters = {k: v + getattr(stats, k) for k, v in self._past.as_dict().items()}
        counters.update(opens=self._opens, disconnects=self._disconnects, codec_errors=self._codec_errors,
                        callback_errors=self._callback_errors)
        # "skipped_<reason>": values decoded but not emitted (e.g. skipped_implausible, HL7's
        # skipped_code_label_conflict), which `edge-app doctor` puts in words.
        skipped = self._past_skipped + self._codec.skipped
        counters.update({f"skipped_{reason}": n for reason, n in sorted(skipped.items())})
        return DriverStatus(self.name, self._state, self._detail, self._since_ms, self._last_frame_ms,
                            counters, self._flags)

    async def run(self) -> None:
        """Open, read, decode and report until cancelled; then close the port and report "stopped"."""
        backoff = BACKOFF_START_S
        try:
            while True:
                try:
                    await self.transport.open()
                except PortAbsentError as exc:
                    self._set_state(DeviceState.SEARCHING, str(exc))
                except TransportError as exc:
                    self._set_state(DeviceState.ERROR, str(exc))
                except Exception as exc:  # a transport bug: report it and retry like any other failure
                    _LOGGER.warning("device %s: open raised", self.name, exc_info=True)
                    self._set_state(DeviceState.ERROR, f"open failed: {exc!r}")
                else:
                    backoff = BACKOFF_START_S
                    await self._connected()
                await self.transport.close()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
        finally:
            # Runs on cancellation too: the port is released before anyone is told we stopped.
            try:
                await self.transport.close()
            finally:
                self._set_state(DeviceState.STOPPED, "")

    async def _connected(self) -> None:
        """Read until the link fails; returns after reporting why."""
        self._opens += 1
        # Bytes of a line cut by the previous disconnect must not prefix the first line of this one.
        self._replace_codec()
        self._flags = ()
        self._set_state(DeviceState.CONNECTED, self.transport.describe())
        if not await self._send(self._codec_output(self._codec.on_connect)):
            return
        while True:
            try:
                data = await self.transport.read()
            except TransportError as exc:
                self._disconnects += 1
                self._set_state(DeviceState.ERROR, str(exc))
                return
            except Exception as exc:  # a transport bug: same recovery as a lost link, plus a traceback
                self._disconnects += 1
                _LOGGER.warning("device %s: read raised", self.name, exc_info=True)
                self._set_state(DeviceState.ERROR, f"read failed: {exc!r}")
                return
            self._handle(data, self._clock_ms())
            if not await self._send(self._codec_output(self._codec.take_output)):
                return

    def _codec_output(self, produce: Callable[[], bytes]) -> bytes:
        try:
            return produce()
        except Exception:  # a codec bug must not end the driver
            self._codec_errors += 1
            _LOGGER.warning("device %s: codec %s failed producing output", self.name, type(self._codec).__name__,
                            exc_info=True)
            return b""

    async def _send(self, data: bytes) -> bool:
        """Write what the protocol owes the device; False (state reported) if the link failed."""
        if not data:
            return True
        try:
            await self.transport.write(data)
        except TransportError as exc:
            self._disconnects += 1
            self._set_state(DeviceState.ERROR, f"write failed: {exc}")
            return False
        return True

    def _handle(self, data: bytes, received_at_ms: int) -> None:
        frames_before = self._codec.stats.frames_ok
        try:
            readings = self._codec.feed(data)
        except Exception:  # a codec bug: keep the monitor on the screen, leave a traceback for a developer
            self._codec_errors += 1
            _LOGGER.warning("device %s: codec %s failed; resetting it", self.name,
                            type(self._codec).__name__, exc_info=True)
            self._replace_codec()
            return
        if self._codec.stats.frames_ok != frames_before:
            self._last_frame_ms = received_at_ms
        if readings:
            self._call(self._on_readings, readings, received_at_ms)
        if self._codec.status != self._flags:
            self._flags = self._codec.status
            self._emit()

    def _replace_codec(self) -> None:
        old = self._codec
        for key, value in old.stats.as_dict().items():
            setattr(self._past, key, getattr(self._past, key) + value)
        self._past_skipped.update(old.skipped)
        self._codec = self._codec_factory()

    def _set_state(self, state: DeviceState, detail: str) -> None:
        if (state, detail) == (self._state, self._detail):
            return
        if state != self._state:
            self._since_ms = self._clock_ms()
        self._state, self._detail = state, detail
        self._emit()

    def _emit(self) -> None:
        self._call(self._on_status, self.status)

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        # The receiver's bug must not stop the monitor being read (or its status being told next time).
        try:
            callback(*args)
        except Exception:
            self._callback_errors += 1
            _LOGGER.warning("device %s: %s raised", self.name, getattr(callback, "__name__", callback),
                            exc_info=True)
