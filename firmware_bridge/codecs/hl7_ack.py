"""HL7 v2 acknowledgements (ACK with MSA, and ERR on failure), MLLP framed, built without a clock."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from firmware_bridge.codecs.hl7_er7 import Segment
from firmware_bridge.codecs.hl7_mllp import frame

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_VERSION = re.compile(r"(\d+)\.(\d+)")


class AckCode(StrEnum):
    """MSA-1 (HL7 table 0008), original and enhanced-application modes."""

    ACCEPT = "AA"
    ERROR = "AE"  # the content is wrong (a missing field, a number that is not one): fix and resend
    REJECT = "AR"  # not for us (message type, version, processing id, size): resending will not help


class ErrorCode(StrEnum):
    """ERR-3 (HL7 table 0357)."""

    SEGMENT_SEQUENCE = "100"
    REQUIRED_FIELD_MISSING = "101"
    DATA_TYPE = "102"
    UNSUPPORTED_MESSAGE_TYPE = "200"
    UNSUPPORTED_PROCESSING_ID = "202"
    UNSUPPORTED_VERSION = "203"
    INTERNAL = "207"


_ERROR_TEXT = {
    ErrorCode.SEGMENT_SEQUENCE: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE: "Data type error",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION: "Unsupported version id",
    ErrorCode.INTERNAL: "Application internal error",
}


@dataclass(frozen=True, slots=True)
class AckError:
    """Why a message was not accepted, and where (segment name, its 1-based position, field number)."""

    ack: AckCode
    code: ErrorCode
    reason: str
    where: tuple[str, int, int] | None = None


def wants_ack(msh: Segment, accepted: bool) -> bool:
    """MSH-16 (application acknowledgement type): AL or empty always, NE never, ER/SU on error/success."""
    mode = msh.component(16, 1).strip().upper()
    return not (mode == "NE" or (mode == "ER" and accepted) or (mode == "SU" and not accepted))


def _echo(raw: str) -> str:
    # An echoed field is already in the sender's escaping; only bytes that could break framing go.
    return _CONTROL_CHARS.sub("", raw)


def _at_least_2_5(version: str) -> bool:
    m = _VERSION.match(version)
    return m is not None and (int(m.group(1)), int(m.group(2))) >= (2, 5)


def _names_structure(version: str, kind: list[str]) -> bool:
    """Whether the ACK's MSH-9 carries its third component, message structure ACK (HL7 table 0354).

    HL7 v2.5 ch. 2 (MSH-9, data type MSG): MSG.3 message structure is required, so from 2.5 on (and when
    MSH-12 is missing, which only a current sender would leave out) every ACK is ACK^<trigger>^ACK, as
    strict receivers check. Before 2.5 the component was optional: answer in the sender's own shape,
    with it only if the sender used it (Philips Efficia's 2.4 guide shows ACK^R04 to its ORF^R04).
    """
    return len(kind) >= 3 or not version.strip() or _at_least_2_5(version)


def build_ack(msh: Segment, error: AckError | None, *, application: str, facility: str,
              encoding: str = "utf-8") -> bytes:
    """The MLLP-framed ACK for a message with this MSH: AA, or error.ack with MSA-3 and ERR saying why.

    MSH-7 of the ACK repeats the message's own MSH-7: a codec never reads a clock, and the monitor's
    clock is the one it will compare against. MSH-10 repeats the message control id, which is unique
    for the sender and so for every ACK on this link.
    """
    d = msh.delimiters
    esc = d.escape_text
    kind = msh.components(9)
    trigger = esc(_echo(kind[1])) if len(kind) > 1 else ""
    control_id = _echo(msh.raw(10))
    version = _echo(msh.raw(12))
    parts = ["ACK", trigger, "ACK"] if _names_structure(version, kind) else ["ACK", trigger] if trigger else ["ACK"]
    header = ["MSH", d.encoding, esc(application), esc(facility), _echo(msh.raw(3)), _echo(msh.raw(4)),
              _echo(msh.raw(7)), "", d.component.join(parts), control_id, _echo(msh.raw(11)) or "P", version]
    msa = ["MSA", str(error.ack if error else AckCode.ACCEPT), control_id]
    if error is not None:
        msa.append(esc(error.reason))
    segments = [d.field.join(header), d.field.join(msa)]
    if error is not None:
        v25 = _at_least_2_5(version)
        segments.append(_err_segment(error, d.field, d.component, d.subcomponent, esc, v25))
    text = "\r".join(segments) + "\r"
    return frame(text.encode(encoding, errors="replace"))


def _err_segment(error: AckError, field: str, comp: str, sub: str, esc: Callable[[str], str],
                 v25: bool) -> str:
    text = _ERROR_TEXT[error.code]
    seg, seq, num = error.where or ("", 0, 0)
    location = comp.join([seg, str(seq), str(num)]) if seg else ""
    if v25:
        # 2.5+: ERR-2 error location, ERR-3 HL7 error code (CWE), ERR-4 severity, ERR-8 user message.
        cwe = comp.join([str(error.code), text, "HL70357"])
        return field.join(["ERR", "", location, cwe, "E", "", "", "", esc(error.reason)])
    # Before 2.5 the only field is ERR-1: location, with the code as a CE in its fourth component.
    code = sub.join([str(error.code), text, "HL70357"])
    return field.join(["ERR", comp.join([seg, str(seq) if seg else "", str(num) if seg else "", code])])
