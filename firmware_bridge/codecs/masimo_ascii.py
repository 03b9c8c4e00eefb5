"""Masimo Rad-8 / Radical-7 / Radical-5 "ASCII 1" serial lines -> readings, parsed by key."""
from __future__ import annotations

import calendar
import logging
import re
from typing import ClassVar

from firmware_bridge.codecs.base import Codec
from firmware_bridge.metrics import Metric
from firmware_bridge.protocols import ProtocolName
from firmware_bridge.reading import Reading

_LOGGER = logging.getLogger(__name__)

# Longest real line seen is a Radical-7 "color" line of ~190 characters; 512 leaves room for firmware
# that adds keys while bounding what a line with a lost terminator can cost.
MAX_LINE = 512

# Bit tables from mdpnp/mdpnp other/pox_rad/src/poxrad_discrete.h (alarmmessage / exceptionmessage),
# which agree with the Rad-8 Operator's Manual "Trend data format" table. "reserved" bits are left out.
ALARM_BITS: dict[int, str] = {
    0x0001: "spo2_high",
    0x0002: "spo2_low",
    0x0004: "pulse_rate_high",
    0x0008: "pulse_rate_low",
    0x0010: "alarm_active",
    0x0020: "alarm_silenced",
    0x0040: "low_battery",
    0x0100: "spco_high",
    0x0200: "spco_low",
    0x0400: "spmet_high",
    0x0800: "spmet_low",
    0x1000: "desat_index_alarm",
    0x2000: "pi_delta_alarm",
}
EXC_BITS: dict[int, str] = {
    0x000001: "no_sensor",
    0x000002: "defective_sensor",
    0x000004: "low_perfusion",
    0x000008: "pulse_search",
    0x000010: "interference",
    0x000020: "sensor_off",
    0x000040: "ambient_light",
    0x000080: "unrecognized_sensor",
    0x000100: "incompatible_sensor",
    0x000400: "low_signal_iq",
    0x000800: "masimo_set",
    0x001000: "no_cable",
    0x002000: "cable_life_expired",
    0x004000: "incompatible_cable",
    0x008000: "unrecognized_cable",
    0x010000: "defective_cable",
    0x020000: "sensor_calibrating",
    0x040000: "sensor_life_expired",
    0x080000: "emitter_temp_out_of_range",
    0x100000: "sensor_current_limit",
    0x200000: "spco_low_confidence",
    0x400000: "spmet_low_confidence",
}

_LINE_END = re.compile(rb"[\r\n]")
_STAMP = re.compile(r"(\d\d)/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)", re.ASCII)
# A key starts a whitespace-separated token; garbage glued to a key makes it unrecognised, never misread.
_FIELD = re.compile(r"(?:^|(?<=\s))([A-Z][A-Z0-9]*)=(\S*)", re.ASCII)
# The device zero-pads to a fixed width, so a value of another shape is a corrupted or truncated line.
_INT3 = re.compile(r"\d{3}", re.ASCII)
_PI = re.compile(r"\d{2}\.\d{2}", re.ASCII)
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")
_DASHES = re.compile(r"[+-]?-+(?:\.-+)?")

_VALUE_KEYS: dict[str, tuple[Metric, re.Pattern[str], float]] = {
    "SPO2": (Metric.SPO2, _INT3, 100),
    "BPM": (Metric.PULSE_RATE, _INT3, 350),
    "PI": (Metric.PERFUSION_INDEX, _PI, 100),
}
_BIT_KEYS = {"ALARM": ALARM_BITS, "EXC": EXC_BITS}
_KNOWN = {*_VALUE_KEYS, *_BIT_KEYS}


class _BadLine(Exception):
    """A line that is not a usable ASCII 1 frame (internal: counted, never raised out of the codec)."""


def decode_bits(hex_text: str, table: dict[int, str]) -> tuple[str, ...]:
    """Names of the set bits of a hex bitfield, in bit order; unknown bits are left out."""
    value = int(hex_text, 16)
    return tuple(name for bit, name in table.items() if value & bit)


def _device_time(text: str) -> int | None:
    """Epoch ms of the MM/DD/YY HH:MM:SS stamp read as UTC; None if there is none or it is no real date."""
    m = _STAMP.match(text)
    if m is None:
        return None
    month, day, yy, hh, mm, ss = (int(g) for g in m.groups())
    # Two-digit years: these monitors were first sold in 2005, so every stamp is 20YY.
    year = 2000 + yy
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
            and hh < 24 and mm < 60 and ss < 60):
        return None
    return calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0)) * 1000


class MasimoAsciiCodec(Codec):
    """One reading per present value of each ASCII 1 line; ALARM/EXC bits become flags and `status`."""

    protocol: ClassVar[ProtocolName] = ProtocolName.MASIMO_ASCII

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()
        self._skipping = False  # inside an over-long line: drop bytes until its line end

    def _feed(self, data: bytes) -> list[Reading]:
        """Consume bytes; return the readings of every line they complete."""
        self.stats.bytes_in += len(data)
        self._buf += data
        out: list[Reading] = []
        while (m := _LINE_END.search(self._buf)) is not None:
            line = bytes(self._buf[: m.start()])
            del self._buf[: m.end()]
            if self._skipping:
                self._skipping = False  # the tail of an over-long line, already counted
                continue
            out += self._line(line)
        if len(self._buf) > MAX_LINE:
            if not self._skipping:
                self._overlong(len(self._buf))
            self._skipping = True
            self._buf.clear()
        return out

    def _flush(self) -> list[Reading]:
        """Decode a final line that has no line end (a capture or --text without a newline)."""
        line, skipping = bytes(self._buf), self._skipping
        self._buf.clear()
        self._skipping = False
        return [] if skipping else self._line(line)

    def _overlong(self, size: int) -> None:
        self.stats.frames_bad += 1
        self.stats.resyncs += 1
        _LOGGER.debug("masimo: dropped an over-long line (%s bytes)", size)

    def _line(self, raw: bytes) -> list[Reading]:
        if not raw.strip():
            return []  # CR LF leaves an empty line between CR and LF
        if len(raw) > MAX_LINE:
            self._overlong(len(raw))
            return []
        _LOGGER.debug("masimo: line %r", raw)
        # latin-1 maps every byte, so noise can never raise here; it just fails to match.
        text = raw.decode("latin-1")
        stamps = list(_STAMP.finditer(text))
        if stamps and text[: stamps[-1].start()].strip():
            # Noise, or the head of a line whose end was lost, before the newest stamp: frame from there.
            self.stats.resyncs += 1
            self.stats.frames_bad += 1
            _LOGGER.debug("masimo: skipped %r before a stamp", text[: stamps[-1].start()])
        if stamps:
            text = text[stamps[-1].start():]
        try:
            readings, status = self._parse(text)
        except _BadLine as exc:
            self.stats.frames_bad += 1
            self.last_error = str(exc)
            _LOGGER.debug("masimo: bad line (%s): %r", exc, raw)
            return []
        self.stats.frames_ok += 1
        if status is not None:
            self.status = status
        return self._screen(readings)

    def _parse(self, text: str) -> tuple[list[Reading], tuple[str, ...] | None]:
        """Readings of one line, and its flags (None if it carries no ALARM/EXC: status unknown, not clear)."""
        fields: dict[str, str] = {}
        for m in _FIELD.finditer(text):
            key, value = m.group(1), m.group(2)
            if key in _KNOWN:
                if key in fields:
                    raise _BadLine(f"{key} twice")  # two lines run together: which value is whose?
                fields[key] = value
        if not fields:
            raise _BadLine("no recognised key")
        flags: tuple[str, ...] = ()
        for key, table in _BIT_KEYS.items():
            if key in fields:
                if not _HEX.fullmatch(fields[key]):
                    raise _BadLine(f"{key}={fields[key]!r}")
                flags += decode_bits(fields[key], table)
        device_time = _device_time(text)
        readings: list[Reading] = []
        for key, (metric, shape, high) in _VALUE_KEYS.items():
            if key not in fields:
                continue
            value = fields[key].removesuffix("%")
            if _DASHES.fullmatch(value):
                continue  # dashes: the monitor has no value now, which is not a reading
            if not shape.fullmatch(value):
                raise _BadLine(f"{key}={value!r}")
            number = float(value)
            if number > high:
                raise _BadLine(f"{key}={value} out of range")
            readings.append(Reading.of(metric, int(number) if shape is _INT3 else number,
                                       device_time=device_time, flags=flags))
        return readings, flags if fields.keys() & _BIT_KEYS.keys() else None
