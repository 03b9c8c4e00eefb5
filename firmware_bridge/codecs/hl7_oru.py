"""HL7 v2 ORU^R01 (IHE PCD-01) and Philips ORF^R04 over MLLP -> readings, with an ACK for each message."""
from __future__ import annotations

import calendar
import logging
import re
from typing import ClassVar

from firmware_bridge.codecs.base import Codec
from firmware_bridge.codecs.hl7_ack import AckCode, AckError, ErrorCode, build_ack, wants_ack
from firmware_bridge.codecs.hl7_er7 import Hl7SyntaxError, Message, Segment, parse_message, salvage_header
from firmware_bridge.codecs.hl7_labels import contradiction
from firmware_bridge.codecs.hl7_mdc import metric_for, to_canonical, unit_for
from firmware_bridge.codecs.hl7_mllp import MAX_FRAME, Frame, MllpDeframer
from firmware_bridge.protocols import ProtocolName
from firmware_bridge.reading import Reading

_LOGGER = logging.getLogger(__name__)

ACCEPTED_TYPES = {("ORU", "R01"), ("ORF", "R04")}  # PCD-01, and Philips Efficia's serial export
# OBX-11 (HL7 table 0085) values that say there is no result: X cannot be obtained, N not asked,
# D delete, W wrong, I pending, O order only.
NO_RESULT = frozenset("XNDWIO")
STATUS_FLAGS = {"C": "corrected", "P": "preliminary", "S": "preliminary"}
# OBX-8 (HL7 table 0078); N (normal) adds nothing. Mindray puts DEMO here in demo mode.
ABNORMAL_FLAGS = {"L": "abnormal_low", "H": "abnormal_high", "LL": "critical_low", "HH": "critical_high",
                  "<": "below_range", ">": "above_range", "A": "abnormal", "AA": "critical", "DEMO": "demo"}
# IEEE 11073 FLOAT specials (NaN, NRes, +INF, -INF) that some exporters print as if they were numbers.
SPECIAL_VALUES = frozenset({8388607, 8388608, 8388606, 8388610})

_NM = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_DTM = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?([+-]\d{4})?", re.ASCII)
_FLAG_WORD = re.compile(r"[^a-z0-9]+")


class _Refused(Exception):
    """A message that gets AE/AR and no readings (internal)."""

    def __init__(self, error: AckError) -> None:
        super().__init__(error.reason)
        self.error = error


def parse_dtm(text: str) -> int | None:
    """HL7 DTM (to the minute at least) as epoch ms UTC; an offset is honoured, none means UTC wall time."""
    m = _DTM.fullmatch(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute = (int(g) for g in m.groups()[:5])
    second = int(m.group(6) or 0)
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
            and hour < 24 and minute < 60 and second < 60):
        return None
    ms = int((m.group(7) or "0").ljust(3, "0")[:3])
    epoch = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) * 1000 + ms
    if (offset := m.group(8)) is not None:
        hh, mm = int(offset[1:3]), int(offset[3:5])
        if hh > 23 or mm > 59:
            return None
        epoch -= (1 if offset[0] == "+" else -1) * (hh * 60 + mm) * 60_000
    return epoch


def _flag_word(code: str) -> str:
    return ABNORMAL_FLAGS.get(code) or "flag_" + _FLAG_WORD.sub("_", code.lower()).strip("_")[:16]


class Hl7OruCodec(Codec):
    """One reading per numeric OBX with a known MDC/MDIL code; an ACK owed for every message.

    Options: application and facility name this end in the ACK's MSH-3/MSH-4. Messages that are refused
    (AE/AR) give no readings at all: the monitor may send them again, and half a message twice is worse
    than none. `skipped` counts OBX rows passed over, by reason (and, as for every codec, implausible values).
    """

    protocol: ClassVar[ProtocolName] = ProtocolName.HL7_ORU

    def __init__(self, *, application: str = "EDGE-APP", facility: str = "") -> None:
        super().__init__()
        self.application = application
        self.facility = facility
        self._deframer = MllpDeframer(self.stats)
        self._out = bytearray()

    def _feed(self, data: bytes) -> list[Reading]:
        """Consume bytes; return the readings of every message they complete."""
        self.stats.bytes_in += len(data)
        out: list[Reading] = []
        for f in self._deframer.feed(data):
            out += self._frame(f)
        return out

    def _flush(self) -> list[Reading]:
        """Decode what is left: an unterminated frame, or bare unframed messages (a pasted capture)."""
        out: list[Reading] = []
        for rest in self._deframer.flush():
            for text in _split_bare(rest):
                out += self._frame(Frame(text))
        return out

    def take_output(self) -> bytes:
        """The ACKs owed since the last call, MLLP framed, in message order."""
        out, self._out = bytes(self._out), bytearray()
        return out

    def _frame(self, f: Frame) -> list[Reading]:
        try:
            text, encoding = f.payload.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:  # not UTF-8: take bytes as latin-1, which maps every byte
            text, encoding = f.payload.decode("latin-1"), "latin-1"
        _LOGGER.debug("hl7: frame %r", text)
        if not f.complete:
            return self._refuse(text, encoding, AckError(AckCode.REJECT, ErrorCode.INTERNAL,
                                                         f"message longer than {MAX_FRAME} bytes"))
        try:
            message = parse_message(text)
        except Hl7SyntaxError as exc:
            return self._refuse(text, encoding, AckError(AckCode.ERROR, ErrorCode.SEGMENT_SEQUENCE, str(exc)))
        try:
            readings, unavailable = self._readings(message)
        except _Refused as exc:
            return self._refuse(text, encoding, exc.error, message.msh)
        self.stats.frames_ok += 1
        self.status = unavailable
        self._ack(message.msh, None, encoding)
        return self._screen(readings)

    def _refuse(self, text: str, encoding: str, error: AckError, msh: Segment | None = None) -> list[Reading]:
        self.stats.frames_bad += 1
        self.last_error = error.reason
        _LOGGER.debug("hl7: %s (%s)", error.reason, error.ack)
        header = msh or salvage_header(text)
        if header is not None:  # without even an MSH there is nobody to address an ACK to
            self._ack(header, error, encoding)
        return []

    def _ack(self, msh: Segment, error: AckError | None, encoding: str) -> None:
        if wants_ack(msh, accepted=error is None):
            self._out += build_ack(msh, error, application=self.application, facility=self.facility,
                                   encoding=encoding)

    def _readings(self, message: Message) -> tuple[list[Reading], tuple[str, ...]]:
        msh = message.msh
        message_flags = _check_header(msh)
        readings: list[Reading] = []
        unavailable: list[str] = []
        obr_time: int | None = None
        for position, seg in enumerate(message.segments, start=1):
            if seg.name == "OBR":
                obr_time = parse_dtm(seg.component(7, 1))
            elif seg.name == "OBX":
                reading = self._obx(seg, position, obr_time, message_flags, unavailable)
                if reading is not None:
                    readings.append(reading)
        return readings, tuple(dict.fromkeys(unavailable))

    def _obx(self, seg: Segment, position: int, obr_time: int | None, message_flags: tuple[str, ...],
             unavailable: list[str]) -> Reading | None:
        value_type = seg.component(2, 1).strip().upper()
        raw_value = seg.raw(5).strip()
        if value_type != "NM":
            self._skip("header" if not value_type and not raw_value else "not_numeric")
            return None
        code = seg.components(3)
        primary = metric_for(code[0], code[2] if len(code) > 2 else "")
        # The alternate identifier (CWE-4..6) may be the MDC one.
        alternate = metric_for(code[3], code[5] if len(code) > 5 else "") if len(code) > 3 else None
        metric = primary or alternate
        if metric is None:
            self._skip("unknown_code")
            return None
        # A row whose own label, other identifier or sub-id names another measurement than its code: which
        # half is wrong cannot be known, and reading it (a cuff systolic as an arterial mean) misleads NEWS2.
        why = contradiction(metric, code[1:2] + code[4:5], (primary, alternate), seg.raw(4))
        if why is not None:
            _LOGGER.debug("hl7: OBX %s: code %s, but %s; skipped", position, code[0] or code[3], why)
            self._skip("code_label_conflict")
            return None
        status = seg.component(11, 1).strip().upper()
        if status in NO_RESULT or not raw_value:
            unavailable.append(f"{metric}_unavailable")
            self._skip(f"status_{status.lower()}" if status in NO_RESULT else "no_value")
            return None
        # NM has no components, repetitions or escapes: anything else in OBX-5 is a damaged message.
        if not _NM.fullmatch(raw_value):
            raise _Refused(AckError(AckCode.ERROR, ErrorCode.DATA_TYPE,
                                    f"OBX-5 is not a number: {raw_value[:20]!r}", ("OBX", position, 5)))
        number = float(raw_value)
        if number in SPECIAL_VALUES:
            unavailable.append(f"{metric}_unavailable")
            self._skip("special_value")
            return None
        unit = seg.components(6)
        value = to_canonical(metric, number, unit_for(unit[0], unit[1] if len(unit) > 1 else "",
                                                      unit[2] if len(unit) > 2 else ""),
                             stated=bool(seg.raw(6).strip()))
        if value is None:
            self._skip("unit")
            return None
        # Physiological bounds are checked for every codec at once (Codec._screen, firmware_bridge.plausible).
        converted = value != number
        flags = message_flags + tuple(_flag_word(f.strip().upper()) for f in seg.repetitions(8)
                                      if f.strip() and f.strip().upper() != "N")
        if status in STATUS_FLAGS:
            flags += (STATUS_FLAGS[status],)
        shown: float = round(value, 2) if converted else (int(number) if "." not in raw_value else number)
        observed = parse_dtm(seg.component(14, 1))  # OBX-14; else OBR-7 (1970-01-01 00:00 is 0, still a time)
        return Reading.of(metric, shown, device_time=obr_time if observed is None else observed,
                          flags=tuple(dict.fromkeys(flags)))


def _check_header(msh: Segment) -> tuple[str, ...]:
    """Flags for every reading of the message; _Refused if the header makes it unusable."""
    kind = msh.components(9)
    if not msh.component(9, 1).strip():
        raise _Refused(AckError(AckCode.ERROR, ErrorCode.REQUIRED_FIELD_MISSING, "MSH-9 message type missing",
                                ("MSH", 1, 9)))
    if not msh.raw(10).strip():
        raise _Refused(AckError(AckCode.ERROR, ErrorCode.REQUIRED_FIELD_MISSING,
                                "MSH-10 message control id missing", ("MSH", 1, 10)))
    pair = (kind[0].strip().upper(), kind[1].strip().upper() if len(kind) > 1 else "")
    if pair not in ACCEPTED_TYPES:
        raise _Refused(AckError(AckCode.REJECT, ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
                                f"message type {'^'.join(pair)[:20]} not accepted; send ORU^R01",
                                ("MSH", 1, 9)))
    version = msh.component(12, 1).strip()
    if version and not version.startswith("2."):
        raise _Refused(AckError(AckCode.REJECT, ErrorCode.UNSUPPORTED_VERSION,
                                f"HL7 version {version[:10]} not accepted; send 2.x", ("MSH", 1, 12)))
    processing = msh.component(11, 1).strip().upper()
    if processing in ("T", "D"):
        return ("test_data",)  # training/debugging: kept, but never taken for the patient's own values
    if processing not in ("", "P"):
        raise _Refused(AckError(AckCode.REJECT, ErrorCode.UNSUPPORTED_PROCESSING_ID,
                                f"processing id {processing[:3]} not accepted", ("MSH", 1, 11)))
    return ()


_BARE_START = re.compile(rb"(?:^|(?<=[\r\n]))MSH")


def _split_bare(data: bytes) -> list[bytes]:
    """Unframed text cut into messages at each segment that starts with MSH."""
    starts = [m.start() for m in _BARE_START.finditer(data)]
    if not starts:
        return [data]
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)], strict=True)]
