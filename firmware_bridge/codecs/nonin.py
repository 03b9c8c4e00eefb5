"""Nonin serial data formats 2, 7, 8 and 13 -> readings; the device's ACK/NAK to host commands -> `status`.

Layouts and their sources are in nonin_frames.py, host commands in nonin_commands.py.
"""
from __future__ import annotations

import abc

import logging
from collections import deque
from typing import ClassVar

from firmware_bridge.codecs.base import CLOCK_IMPLAUSIBLE, Codec
from firmware_bridge.codecs.nonin_commands import (
    ACK,
    REPLIES,
    set_format_command,
    set_format_extended_command,
    set_time_command,
)
from firmware_bridge.codecs.nonin_frames import (
    DF8_LEN,
    DF13_ETX,
    DF13_HEADER,
    DF13_MAX_DATA,
    DF13_MIN_DATA,
    FRAME_LEN,
    MISSING_HR,
    MISSING_SPO2,
    PACKET_FRAMES,
    Frame,
    checksum,
    decode_df2_frame,
    decode_df7_frame,
    decode_df8,
    decode_df13_data,
    decode_packet,
    df8_framing_ok,
    valid_df2_frame,
    valid_df7_frame,
)
from firmware_bridge.errors import CodecError
from firmware_bridge.metrics import Metric
from firmware_bridge.protocols import ProtocolName
from firmware_bridge.reading import Reading

_LOGGER = logging.getLogger(__name__)

HR_HIGH = 350  # the pulse_rate metric's bound: a 9-bit value above it (and not 511) is no pulse
SPO2_HIGH = 100

# (bytes consumed, readings): 0 consumed means "no item starts here"; None means "wait for more bytes".
_Step = tuple[int, list[Reading]] | None
_NOTHING: tuple[int, list[Reading]] = (0, [])


def values_to_readings(hr: int, spo2: int, flags: tuple[str, ...],
                       device_time: int | None = None) -> list[Reading]:
    """Readings for the values that are present: 127/511 (and anything impossible) give none."""
    out: list[Reading] = []
    if spo2 != MISSING_SPO2 and spo2 <= SPO2_HIGH:
        out.append(Reading.of(Metric.SPO2, spo2, device_time=device_time, flags=flags))
    if hr != MISSING_HR and hr <= HR_HIGH:
        out.append(Reading.of(Metric.PULSE_RATE, hr, device_time=device_time, flags=flags))
    return out


def _plausible(hr: int, spo2: int) -> bool:
    return (hr == MISSING_HR or hr <= HR_HIGH) and (spo2 == MISSING_SPO2 or spo2 <= SPO2_HIGH)


class NoninCodec(Codec):
    """What the four formats share: host commands on connect, ACK/NAK recognition, and the byte scanner.

    Options: set_format sends the select-format command for the codec's own format (the WristOx2 3150
    extended form when format_options is given); set_clock_ms (epoch ms UTC, read by the caller) sends the
    set-time command. Each command's reply shows in `status` as e.g. "format_accepted" or "format_rejected".
    """

    DATA_FORMAT: ClassVar[int]

    def __init__(self, *, set_format: bool = False, set_clock_ms: int | None = None,
                 format_options: int | None = None) -> None:
        super().__init__()
        commands: list[tuple[str, bytes]] = []
        try:
            if set_format:
                commands.append(("format", set_format_command(self.DATA_FORMAT) if format_options is None
                                 else set_format_extended_command(self.DATA_FORMAT, format_options)))
            if set_clock_ms is not None:
                commands.append(("clock", set_time_command(int(set_clock_ms))))
        except (TypeError, ValueError, OverflowError) as exc:
            raise CodecError(f"{self.protocol}: {exc}") from None
        self._commands = commands
        self._pending: deque[str] = deque()  # kinds of the commands whose reply is still to come, in order
        self._link: dict[str, str] = {}
        self._frame_flags: tuple[str, ...] = ()
        self._buf = bytearray()
        # Where the scanner stands: "start" (nothing seen yet), "item" (a frame or reply just ended), or
        # None (inside garbage). A reply byte counts only where a frame boundary is known.
        self._boundary: str | None = "start"
        self._tail = bytearray()  # the last garbage bytes, to recognise a foreign format's frame before a reply
        self._dropped = 0

    def on_connect(self) -> bytes:
        """The configured host commands; their replies are then expected in the stream, in this order."""
        self._pending = deque(kind for kind, _ in self._commands)
        return b"".join(command for _, command in self._commands)

    def _feed(self, data: bytes) -> list[Reading]:
        """Consume bytes; return the readings of every frame (format 2/7: every packet) they complete."""
        self.stats.bytes_in += len(data)
        self._buf += data
        return self._scan(final=False)

    def _flush(self) -> list[Reading]:
        """End of input: decode what can be decoded without waiting for more bytes, then start afresh."""
        out = self._scan(final=True)
        self._buf.clear()
        self._reset_framing()
        return out

    # -- what each format supplies ---------------------------------------------------------------------

    @abc.abstractmethod
    def _item_at(self, i: int, final: bool) -> _Step:
        """Try to take one frame of this format at buf[i]."""

    def _own_frame(self, raw: bytes) -> bool:
        """Whether raw (5 bytes) starts with a frame of this format; used to place a reply byte."""
        return False

    def _reset_framing(self) -> None:
        """Forget alignment (after flush)."""

    # -- shared machinery ------------------------------------------------------------------------------

    def _scan(self, *, final: bool) -> list[Reading]:
        buf = self._buf
        out: list[Reading] = []
        i = 0
        while i < len(buf):
            if buf[i] in REPLIES and self._pending:
                verdict = self._reply_verdict(i, final)
                if verdict is None:
                    break
                if verdict:
                    self._take_reply(buf[i])
                    i += 1
                    continue
            step = self._item_at(i, final)
            if step is None:
                break
            size, readings = step
            if size:
                if self._dropped:
                    self.stats.resyncs += 1
                    _LOGGER.debug("%s: resynced after %s garbage bytes", self.protocol, self._dropped)
                    self._dropped = 0
                self._boundary = "item"
                self._tail.clear()
                out += readings
                i += size
            else:
                self._boundary = None
                self._tail.append(buf[i])
                del self._tail[:-FRAME_LEN]
                self._dropped += 1
                i += 1
        del buf[:i]
        return out

    def _reply_verdict(self, i: int, final: bool) -> bool | None:
        """Is the 0x06/0x15 at buf[i] the device's reply? None: cannot tell until more bytes come."""
        if self._boundary == "item":
            return True
        tail = bytes(self._tail)
        if len(tail) == FRAME_LEN and (valid_df2_frame(tail) or valid_df7_frame(tail)):
            return True  # right after a checksummed frame of format 2 or 7 (the device's old format, say)
        if self._boundary != "start":
            return False
        # First byte seen on this link: believe it only if a frame, a record or another reply follows.
        buf, j = self._buf, i + 1
        rest = len(buf) - j
        if rest >= 1 and buf[j] in REPLIES and len(self._pending) >= 2:
            return True
        if rest >= 4 and buf[j:j + 4] == DF13_HEADER:
            return True
        if rest >= FRAME_LEN:
            raw = bytes(buf[j:j + FRAME_LEN])
            return valid_df2_frame(raw) or valid_df7_frame(raw) or self._own_frame(raw)
        return True if final else None

    def _take_reply(self, byte: int) -> None:
        kind = self._pending.popleft()
        self._link[kind] = f"{kind}_{'accepted' if byte == ACK else 'rejected'}"
        _LOGGER.debug("%s: %s reply 0x%02x", self.protocol, kind, byte)
        self._boundary = "item"
        self._tail.clear()
        self._publish_status()

    def _set_frame_flags(self, flags: tuple[str, ...]) -> None:
        self._frame_flags = flags
        self._publish_status()

    def _publish_status(self) -> None:
        self.status = self._frame_flags + tuple(self._link.values())


class _PacketCodec(NoninCodec):
    """Formats 2 and 7: 5-byte checksummed frames, 25 to a packet whose FLOAT bytes carry the values."""

    SNSD: ClassVar[bool]  # decode STATUS bit 6 as sensor_disconnect

    def __init__(self, *, set_format: bool = False, set_clock_ms: int | None = None,
                 format_options: int | None = None) -> None:
        super().__init__(set_format=set_format, set_clock_ms=set_clock_ms, format_options=format_options)
        self._locked = False  # frame alignment known: every 5 bytes must be a good frame
        self._packet: list[Frame] | None = None  # frames of the packet being gathered, from its SYNC frame

    @staticmethod
    @abc.abstractmethod
    def _valid(raw: bytes) -> bool:
        """Whether 5 bytes are a well-formed frame of this format."""

    @staticmethod
    @abc.abstractmethod
    def _decode(raw: bytes) -> Frame:
        """The fields of one well-formed frame."""

    def _own_frame(self, raw: bytes) -> bool:
        return self._valid(raw)

    def _reset_framing(self) -> None:
        self._locked = False
        self._packet = None

    def _item_at(self, i: int, final: bool) -> _Step:
        buf = self._buf
        if len(buf) - i < FRAME_LEN:
            return _NOTHING if final else None
        raw = bytes(buf[i:i + FRAME_LEN])
        if self._locked:
            if self._valid(raw):
                return FRAME_LEN, self._frame(raw)
            self.stats.frames_bad += 1
            _LOGGER.debug("%s: bad frame %s, hunting", self.protocol, raw.hex())
            self._reset_framing()
            return _NOTHING
        if not self._valid(raw):
            return _NOTHING
        # Hunting: a chance match in noise is 1 in 512 (format 7), so the next frame must check too.
        nxt = bytes(buf[i + FRAME_LEN:i + 2 * FRAME_LEN])
        reply_next = bool(nxt) and nxt[0] in REPLIES and bool(self._pending)
        if len(nxt) == FRAME_LEN and not reply_next and not self._valid(nxt):
            return _NOTHING
        if len(nxt) < FRAME_LEN and not reply_next and not final:
            return None
        self._locked = True
        return FRAME_LEN, self._frame(raw)

    def _frame(self, raw: bytes) -> list[Reading]:
        self.stats.frames_ok += 1
        frame = self._decode(raw)
        if frame.sync:
            if self._packet:
                _LOGGER.debug("%s: packet cut short after %s frames", self.protocol, len(self._packet))
            self._packet = [frame]
        elif self._packet is not None:
            self._packet.append(frame)
        if self._packet is None or len(self._packet) < PACKET_FRAMES:
            return []
        packet = decode_packet(self._packet)
        self._packet = None
        flags = packet.flags(snsd=self.SNSD)
        self._set_frame_flags(flags)
        return self._screen(values_to_readings(packet.hr, packet.spo2, flags))


class NoninDf2Codec(_PacketCodec):
    """Data format 2 (OEM III, 9560, 3150): [0x01, STATUS, PLETH, FLOAT, CHK] x 25 per packet."""

    protocol: ClassVar[ProtocolName] = ProtocolName.NONIN_DF2
    DATA_FORMAT: ClassVar[int] = 2
    SNSD: ClassVar[bool] = True

    @staticmethod
    def _valid(raw: bytes) -> bool:
        return valid_df2_frame(raw)

    @staticmethod
    def _decode(raw: bytes) -> Frame:
        return decode_df2_frame(raw)


class NoninDf7Codec(_PacketCodec):
    """Data format 7 (9560, 3150, Xpod): [STATUS, PLETH MSB, PLETH LSB, FLOAT, CHK] x 25 per packet."""

    protocol: ClassVar[ProtocolName] = ProtocolName.NONIN_DF7
    DATA_FORMAT: ClassVar[int] = 7
    SNSD: ClassVar[bool] = False

    @staticmethod
    def _valid(raw: bytes) -> bool:
        return valid_df7_frame(raw)

    @staticmethod
    def _decode(raw: bytes) -> Frame:
        return decode_df7_frame(raw)


class NoninDf8Codec(NoninCodec):
    """Data format 8: [STATUS, HR LSB, SpO2, STAT2] once a second; no checksum, so framing bits and ranges."""

    protocol: ClassVar[ProtocolName] = ProtocolName.NONIN_DF8
    DATA_FORMAT: ClassVar[int] = 8

    def __init__(self, *, set_format: bool = False, set_clock_ms: int | None = None,
                 format_options: int | None = None) -> None:
        super().__init__(set_format=set_format, set_clock_ms=set_clock_ms, format_options=format_options)
        self._locked = False

    @staticmethod
    def _ok(raw: bytes) -> bool:
        if not df8_framing_ok(raw):
            return False
        frame = decode_df8(raw)
        return _plausible(frame.hr, frame.spo2)  # with no checksum, an impossible value means a bad frame

    def _own_frame(self, raw: bytes) -> bool:
        return self._ok(raw[:DF8_LEN]) and bool(raw[DF8_LEN] & 0x80)  # a frame, then the next one's STATUS

    def _reset_framing(self) -> None:
        self._locked = False

    def _item_at(self, i: int, final: bool) -> _Step:
        buf = self._buf
        rest = len(buf) - i
        if rest < DF8_LEN:
            return _NOTHING if final else None
        raw = bytes(buf[i:i + DF8_LEN])
        if self._locked:
            if self._ok(raw):
                return DF8_LEN, self._frame(raw)
            self.stats.frames_bad += 1
            _LOGGER.debug("%s: bad frame %s, hunting", self.protocol, raw.hex())
            self._locked = False
            return _NOTHING
        if not self._ok(raw):
            return _NOTHING
        # Hunting: noise passes these checks about 1 time in 10, and so do many frames of formats 2 and 7;
        # the next 4 bytes must be a frame too (or a reply to a command), which neither of those makes.
        nxt = bytes(buf[i + DF8_LEN:i + 2 * DF8_LEN])
        reply_next = bool(nxt) and nxt[0] in REPLIES and bool(self._pending)
        if len(nxt) == DF8_LEN and not reply_next and not self._ok(nxt):
            return _NOTHING
        if len(nxt) < DF8_LEN and not reply_next and not final:
            return None
        self._locked = True
        return DF8_LEN, self._frame(raw)

    def _frame(self, raw: bytes) -> list[Reading]:
        self.stats.frames_ok += 1
        frame = decode_df8(raw)
        self._set_frame_flags(frame.flags)
        return self._screen(values_to_readings(frame.hr, frame.spo2, frame.flags))


class NoninDf13Codec(NoninCodec):
    """Data format 13 (9560, 3150 spot-check): NUL STX 00 0D, length, dated record, checksum, ETX."""

    protocol: ClassVar[ProtocolName] = ProtocolName.NONIN_DF13
    DATA_FORMAT: ClassVar[int] = 13

    def _item_at(self, i: int, final: bool) -> _Step:
        buf = self._buf
        head = bytes(buf[i:i + len(DF13_HEADER)])
        if head != DF13_HEADER[:len(head)]:
            return _NOTHING
        rest = len(buf) - i
        if rest < len(DF13_HEADER) + 2:
            return _NOTHING if final else None
        length = (buf[i + 4] << 8) | buf[i + 5]
        if not DF13_MIN_DATA <= length <= DF13_MAX_DATA:
            self.stats.frames_bad += 1  # a 4-byte header is no accident: a damaged record
            _LOGGER.debug("%s: record length %s", self.protocol, length)
            return _NOTHING
        total = 6 + length + 2
        if rest < total:
            return _NOTHING if final else None
        data = bytes(buf[i + 6:i + 6 + length])
        if checksum(data) != buf[i + 6 + length] or buf[i + 7 + length] != DF13_ETX:
            self.stats.frames_bad += 1
            _LOGGER.debug("%s: bad record %s", self.protocol, bytes(buf[i:i + total]).hex())
            return _NOTHING
        self.stats.frames_ok += 1
        record = decode_df13_data(data)
        self._set_frame_flags(record.flags)
        if "no_measurement" in record.flags:
            return total, self._screen([])  # the device says these numbers are no measurement
        # Every record carries its 8 date bytes [ML][MP]: one that is no 20xx date (a century other than
        # 20, month 13, noise) is a clock gone wrong, flagged like any other implausible device time.
        flags = record.flags + (CLOCK_IMPLAUSIBLE if record.device_time is None else ())
        return total, self._screen(values_to_readings(record.hr, record.spo2, flags, record.device_time))
