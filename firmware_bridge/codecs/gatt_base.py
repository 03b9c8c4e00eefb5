"""What the GATT health codecs share: one characteristic value per frame, a field cursor, Date Time, bounds.

How a notification reaches feed(): two ways, one contract.
- Unframed (the default, `edge-app decode gatt-... --hex VALUE`): every feed() is exactly one
  characteristic value, as an ATT Handle Value Notification/Indication carries it. A codec whose
  service has several measurement characteristics (PLX) tells them apart by the value's length.
- Framed (`codec_for(protocol, framed=True)`, what the daemon uses with BleTransport): the bytes are a
  stream of frames `uuid16 (2 bytes LE) | length (2 bytes LE) | value`, as `BleTransport.read()`
  returns them (see `frame()`), so any split of the stream still decodes and the codec knows which
  characteristic sent each value. The same framing goes the other way: `on_connect()`/`take_output()`
  return framed bytes and BleTransport.write() sends each value to the characteristic it names.
"""
from __future__ import annotations

import abc
import calendar
import logging

from firmware_bridge.codecs.base import Codec
from firmware_bridge.codecs.ieee11073 import Special, decode_float, decode_sfloat
from firmware_bridge.metrics import Metric
from firmware_bridge.reading import Reading

_LOGGER = logging.getLogger(__name__)

HEADER_SIZE = 4
# ATT attribute values are at most 512 bytes (Core Spec v5.4 Vol 3 Part F 3.2.9): a larger length is noise.
MAX_VALUE = 512


def frame(uuid16: int, value: bytes) -> bytes:
    """One characteristic value in the BLE framing: uuid16 LE, length LE, value."""
    if len(value) > MAX_VALUE:
        raise ValueError(f"a characteristic value is at most {MAX_VALUE} bytes, got {len(value)}")
    return uuid16.to_bytes(2, "little") + len(value).to_bytes(2, "little") + value


def split_frames(buf: bytearray) -> list[tuple[int, bytes]]:
    """Take every complete frame off the front of buf (in place); ValueError on an impossible length."""
    out: list[tuple[int, bytes]] = []
    while len(buf) >= HEADER_SIZE:
        uuid16 = int.from_bytes(buf[0:2], "little")
        size = int.from_bytes(buf[2:4], "little")
        if size > MAX_VALUE:
            raise ValueError(f"frame length {size}")
        if len(buf) < HEADER_SIZE + size:
            break
        out.append((uuid16, bytes(buf[HEADER_SIZE:HEADER_SIZE + size])))
        del buf[:HEADER_SIZE + size]
    return out


def uuid16_of(uuid: str) -> int:
    """0x2A37 from "2a37", "0x2A37" or "00002a37-0000-1000-8000-00805f9b34fb"."""
    text = uuid.lower().removeprefix("0x")
    return int(text[4:8] if len(text) == 36 else text, 16)


class BadValue(Exception):
    """A characteristic value that does not parse (internal: counted as a bad frame, never raised out)."""


class Cursor:
    """Reads the little-endian fields of one characteristic value in order; BadValue when short."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise BadValue(f"truncated at byte {self.pos} (needs {n} more)")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def sint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little", signed=True)

    def sfloat(self) -> float | Special:
        return decode_sfloat(self.take(2))

    def float32(self) -> float | Special:
        return decode_float(self.take(4))

    def date_time(self) -> int | None:
        """A Date Time (GATT Specification Supplement 3.70, 0x2A08) as epoch ms read as UTC; None if unknown.

        Year 0, month 0 or day 0 mean "not known" (GSS 3.70); an impossible date is not a time either.
        """
        year, month, day = self.uint(2), self.uint(1), self.uint(1)
        hour, minute, second = self.uint(1), self.uint(1), self.uint(1)
        if not (1582 <= year <= 9999 and 1 <= month <= 12 and hour < 24 and minute < 60 and second < 60):
            return None
        if not 1 <= day <= calendar.monthrange(year, month)[1]:
            return None
        return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) * 1000

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


def bit_names(value: int, table: dict[int, str]) -> tuple[str, ...]:
    """Names of the set bits of value, in bit order; bits not in the table (RFU) are left out."""
    return tuple(name for bit, name in sorted(table.items()) if value & (1 << bit))


class Values:
    """Collects the readings of one value: specials become status, not readings (implausible numbers are
    dropped for every codec at once: Codec._screen)."""

    def __init__(self, device_time: int | None = None, flags: tuple[str, ...] = ()) -> None:
        self.device_time = device_time
        self.flags = flags
        self.readings: list[Reading] = []
        self.status: list[str] = []

    def add(self, metric: Metric, value: float | Special, scale: float = 1.0, offset: float = 0.0) -> None:
        """A reading of value * scale + offset, unless it is a Special."""
        if isinstance(value, Special):
            self.status.append(f"{metric}_{value.flag}")
            return
        number = value * scale + offset
        # As hl7_oru shows a converted value: to 2 decimals, a whole number as an int. Binary floats of a
        # decimal mantissa and exponent (and unit conversions) otherwise print as 97.00000001.
        rounded = round(number, 2)
        shown: float = int(rounded) if rounded.is_integer() else rounded
        self.readings.append(Reading.of(metric, shown, device_time=self.device_time, flags=self.flags))


class GattCodec(Codec):
    """One characteristic value per frame (see module docstring); subclasses decode one value."""

    # The measurement characteristics this codec decodes; frames of others (RACP, context) are skipped.
    characteristics: tuple[int, ...] = ()

    def __init__(self, *, framed: bool = False) -> None:
        super().__init__()
        self.framed = framed
        self._buf = bytearray()

    def _feed(self, data: bytes) -> list[Reading]:
        """Unframed: data is one characteristic value. Framed: any piece of the frame stream."""
        self.stats.bytes_in += len(data)
        if not self.framed:
            return self._value(None, bytes(data))
        self._buf += data
        try:
            frames = split_frames(self._buf)
        except ValueError as exc:
            # Framing comes from our own transport, so this is a bug or a misrouted stream: drop and restart.
            _LOGGER.debug("%s: %s; dropping %s buffered bytes", self.protocol, exc, len(self._buf))
            self._buf.clear()
            self.stats.frames_bad += 1
            self.stats.resyncs += 1
            return []
        out: list[Reading] = []
        for uuid16, value in frames:
            if uuid16 in self.characteristics:
                out += self._value(uuid16, value)
            else:
                out += self.other_value(uuid16, value)
        return out

    def _value(self, uuid16: int | None, value: bytes) -> list[Reading]:
        _LOGGER.debug("%s: value %s from %s", self.protocol, value.hex(), uuid16)
        try:
            readings, status = self.decode(uuid16, value)
        except BadValue as exc:
            self.stats.frames_bad += 1
            self.last_error = str(exc)
            _LOGGER.debug("%s: bad value (%s): %s", self.protocol, exc, value.hex())
            return []
        self.stats.frames_ok += 1
        self.status = status
        return self._screen(readings)

    def other_value(self, uuid16: int, value: bytes) -> list[Reading]:
        """A frame from a characteristic that is not a measurement (e.g. a control point reply)."""
        return []

    @abc.abstractmethod
    def decode(self, uuid16: int | None, value: bytes) -> tuple[list[Reading], tuple[str, ...]]:
        """Readings and status flags of one characteristic value (uuid16 None when unframed); BadValue."""
