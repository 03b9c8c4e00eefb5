"""The ACK's MSH-9: message type ACK, the ORU's trigger event echoed, message structure ACK (HL7 v2.5 ch. 2)."""
from __future__ import annotations

import pytest

from firmware_bridge.codecs.base import CodecStats
from firmware_bridge.codecs.hl7_er7 import parse_message
from firmware_bridge.codecs.hl7_mllp import MllpDeframer, frame
from firmware_bridge.codecs.hl7_oru import Hl7OruCodec

OBX = "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1|97|262688^MDC_DIM_PERCENT^MDC|||||R"


def ack_msh9(msh: str, *rows: str) -> str:
    codec = Hl7OruCodec()
    codec.feed(frame("\r".join([msh, *rows]).encode()))
    [f] = MllpDeframer(CodecStats()).feed(codec.take_output())
    return parse_message(f.payload.decode()).msh.raw(9)


@pytest.mark.parametrize("version", ["2.5", "2.5.1", "2.6", "2.7", "2.8", ""])
@pytest.mark.parametrize("kind, want", [("ORU^R01", "ACK^R01^ACK"), ("ORU^R01^ORU_R01", "ACK^R01^ACK"),
                                        ("ORF^R04", "ACK^R04^ACK"), ("ADT^A01", "ACK^A01^ACK")])
def test_ack_names_the_message_structure_from_2_5_on(version: str, kind: str, want: str) -> None:
    # HL7 v2.5 ch. 2 (MSH-9, data type MSG): MSG.3 message structure is required; the ACK of any
    # trigger event has structure ACK (table 0354). A refused message type is acknowledged the same way.
    assert ack_msh9(f"MSH|^~\\&|MON||||20240301101500||{kind}|C1|P|{version}", OBX) == want


@pytest.mark.parametrize("version", ["2.3.1", "2.4"])
def test_before_2_5_the_ack_answers_in_the_senders_shape(version: str) -> None:
    msh = f"MSH|^~\\&|MON||||20240301101500||ORU^R01|C1|P|{version}"
    assert ack_msh9(msh, OBX) == "ACK^R01"  # as Philips Efficia's guide shows for its 2.4 ORF^R04
    assert ack_msh9(msh.replace("ORU^R01", "ORU^R01^ORU_R01"), OBX) == "ACK^R01^ACK"


def test_the_refused_ack_of_a_2_6_message_names_its_structure_too() -> None:
    assert ack_msh9("MSH|^~\\&|MON||||20240301101500||ORU^R01|C1|P|2.6", "OBX|1|NM|150456^^MDC|1|9x7") == \
        "ACK^R01^ACK"
