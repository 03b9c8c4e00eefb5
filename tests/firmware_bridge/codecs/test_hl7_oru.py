"""Hl7OruCodec against the public vectors and vendor captures: metrics, units, times, flags, ACKs."""
from __future__ import annotations

import calendar
import json
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.codecs import codec_for
from firmware_bridge.codecs.base import CodecStats
from firmware_bridge.codecs.hl7_er7 import Delimiters, parse_message, unescape
from firmware_bridge.codecs.hl7_mllp import MllpDeframer, frame
from firmware_bridge.codecs.hl7_oru import Hl7OruCodec, parse_dtm
from firmware_bridge.metrics import Metric
from firmware_bridge.reading import Reading

VECTORS = Path(__file__).parents[2] / "vectors" / "devices.json"
HL7_VECTORS = [v for v in json.loads(VECTORS.read_text())["vectors"] if v.get("protocol") == "hl7-oru"]
INVASIVE = {"ibp_systolic", "ibp_diastolic", "ibp_mean"}

# GE B40 HL7 Reference Manual 2062665-001 G: MSH..OBR of "Example 1" (p.19) and the invasive-pressure
# channel rows of the PCD-01 description (p.15), line wraps rejoined.
GE_B40 = (
    b"MSH|^~\\&|VSP^080019FFFE134535^EUI-64|GE Healthcare|||20130122134100||ORU^R01^ORU_R01|004097134535|P"
    b"|2.6"
    b"|||NE|AL||UNICODE UTF-8|||PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r"
    b"PID|||HED12^^^PID^MR||LAZY^KITTY^^^^^L|||\r"
    b"PV1||R|SURGERY^^V2\r"
    b"OBR|1|080019FFFE13453520130122134100^VSP^080019FFFE134535^EUI-64|080019FFFE13453520130122134100^VSP^"
    b"080019FFFE134535^EUI-64|182777000^monitoring of patient^SCT|||20130122134100\r"
    b"OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X\r"
    b"OBX|2||69854^MDC_DEV_METER_PRESS_BLD_VMD^MDC|1.13.0.0|||||||X\r"
    b"OBX|3||69855^MDC_DEV_METER_PRESS_BLD_CHAN^MDC|1.13.1.0|||||||X\r"
    b"OBX|4|NM|150033^MDC_PRESS_BLD_ART_SYS^MDC|1.13.1.1|112|266016^MDC_DIM_MMHG^MDC|||||R|||||||080019FFFE0B4020^B40_GE\r"
    b"OBX|5|NM|150034^MDC_PRESS_BLD_ART_DIA^MDC|1.13.1.2|76|266016^MDC_DIM_MMHG^MDC|||||R|||||||080019FFFE0B4020^B40_GE\r"
    b"OBX|6|NM|150035^MDC_PRESS_BLD_ART_MEAN^MDC|1.13.1.3|95|266016^MDC_DIM_MMHG^MDC|||||R|||||||080019FFFE0B4020^B40_GE\r"
    b"OBX|7|NM|149522^MDC_BLD_PULS_RATE_INV^MDC|1.13.1.4|80|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||||||"
    b"080019FFFE0B4020^B40_GE\r"
)
# Mindray VS-900 in demo mode (OBX-8 "DEMO"), LF line ends as quoted in a public TypeScript HL7 test
# (search index file 20538092361, testMSH).
MINDRAY_VS900 = (
    b"MSH|^~\\&|MINDRAY_VS900^00A0370098006640^EUI-64||||20200212125541||ORU^R01^ORU_R01|13|P|2.6|||AL|NE||"
    b"UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\n"
    b"PID|||2eefgghy^^^Hospital^PI||TEST^SR T3ST^^^^^L||19891023|M\n"
    b"PV1||I|INTER^^1^1|||||||||||||||||||||||||||||||||||||||||20200212\n"
    b"OBR|1|13^MINDRAY_VS900^00A0370098006640^EUI-64|13^MINDRAY_VS900^00A0370098006640^EUI-64|182777000^"
    b"monitoring of patient^SCT|||20200212125541\n"
    b"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|100|262688^MDC_DIM_PERCENT^MDC||DEMO|||R|||"
    b"20200212125541||||00A0370098006640^^00A0370098006640^EUI-64\n"
    b"OBX|2|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.3.1.149530|80|264864^MDC_DIM_BEAT_PER_MIN^MDC||DEMO|||R|||"
    b"20200212125541\n"
    b"OBX|3|NM|150488^MDC_BLD_PERF_INDEX^MDC|1.3.1.150488|12.00|262688^MDC_DIM_PERCENT^MDC||DEMO|||R|||"
    b"20200212125541\n"
    b"OBX|4|NM|150301^MDC_PRESS_CUFF_SYS^MDC|1.1.9.150301|166|266016^MDC_DIM_MMHG^MDC||DEMO|||R|||"
    b"20200212125008|||^APERIODIC\n"
    b"OBX|5|NM|150303^MDC_PRESS_CUFF_MEAN^MDC|1.1.9.150303|122|266016^MDC_DIM_MMHG^MDC||DEMO|||R|||"
    b"20200212125008|||^APERIODIC\n"
    b"OBX|6|NM|150302^MDC_PRESS_CUFF_DIA^MDC|1.1.9.150302|100|266016^MDC_DIM_MMHG^MDC||DEMO|||R|||"
    b"20200212125008|||^APERIODIC\n"
)
# Philips Efficia CM Series Data Export Guide: MSH of the ORF example (p.3-10) and the two "no value"
# OBX examples (p.3-18): empty OBX-5 and result status X.
EFFICIA_NO_VALUES = (
    b"MSH|^~\\&|^EfficiaCM||||20140510124500||ORF^R04|MONITORABC000000002D|P|2.4|||||||||2.16.840.1.113883.9.2.1\r"
    b"OBX||NM|0002-4bb8^SpO2^MDIL|||0004-0220^%^MDIL|||||X\r"
    b"OBX||NM|0002-4182^HR^MDIL|||0004-0aa0^bpm^MDIL|||||X\r"
)


def utc_ms(y: int, mo: int, d: int, h: int, mi: int, s: int = 0) -> int:
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000


def close_enough(got: float, want: float) -> bool:
    return abs(got - want) <= max(0.01, abs(want) * 0.001)


def decode(data: bytes, **options: Any) -> tuple[list[Reading], Hl7OruCodec]:
    codec = Hl7OruCodec(**options)
    return codec.feed(frame(data)) + codec.flush(), codec


def by_metric(readings: list[Reading]) -> dict[str, Reading]:
    out = {str(r.metric): r for r in readings}
    assert len(out) == len(readings), f"a metric twice in one message: {readings}"
    return out


def acks(codec: Hl7OruCodec) -> list[dict[str, list[str]]]:
    """Each ACK the codec owes, as {segment name: raw fields}."""
    out = []
    for f in MllpDeframer(CodecStats()).feed(codec.take_output()):
        message = parse_message(f.payload.decode())
        out.append({s.name: list(s.fields) for s in message.segments})
    return out


@pytest.mark.parametrize("vector", HL7_VECTORS, ids=lambda v: v["source"][:30])
def test_public_vector(vector: dict[str, Any]) -> None:
    codec = codec_for("hl7-oru")
    # The vectors are bare messages (no MLLP), as `edge-app decode` gets them: flush() decodes them.
    readings = codec.feed(vector["input_text"].encode()) + codec.flush()
    got = {str(r.metric): r for r in readings}
    for want in vector["readings"]:  # extra readings are allowed by the vectors' contract
        r = got[want["metric"]]
        assert r.unit == want["unit"]
        assert close_enough(float(r.value), want["value"]), (r, want)
    assert codec.stats.frames_ok == 1 and codec.stats.frames_bad == 0
    for row in vector["detail"]:  # every decoded row of the source is either read or knowingly skipped
        assert any(close_enough(float(r.value), row["value"]) for r in readings) or row["obx3_code"] in (
            "148066",)  # MDC_ECG_V_P_C_RATE: not in the vocabulary


def test_vectors_are_all_here() -> None:
    assert len(HL7_VECTORS) >= 2


def test_ge_vector_invasive_pressure_is_never_cuff_pressure() -> None:
    vector = next(v for v in HL7_VECTORS if v["input_text"].startswith("MSH|^~\\&|B40_GE"))
    codec = codec_for("hl7-oru")
    got = by_metric(codec.feed(vector["input_text"].encode()) + codec.flush())
    assert {k: got[k].value for k in INVASIVE} == {"ibp_systolic": 112, "ibp_diastolic": 76, "ibp_mean": 95}
    assert not {"bp_systolic", "bp_diastolic", "bp_mean"} & got.keys()


def test_ge_b40_example_with_invasive_channel_and_obr_time() -> None:
    readings, codec = decode(GE_B40)
    got = by_metric(readings)
    assert {k: r.value for k, r in got.items()} == {
        "ibp_systolic": 112, "ibp_diastolic": 76, "ibp_mean": 95, "pulse_rate": 80}
    # No OBX-14 in these rows: the observation time is OBR-7 (no offset, so UTC wall time).
    assert all(r.device_time == utc_ms(2013, 1, 22, 13, 41) for r in readings)
    assert codec.skipped["header"] == 3 and codec.stats.frames_ok == 1
    [ack] = acks(codec)
    assert ack["MSA"] == ["MSA", "AA", "004097134535"]
    assert ack["MSH"][9] == "ACK^R01^ACK" and ack["MSH"][7] == "20130122134100"  # MSH-7 echoed, no clock
    assert ack["MSH"][5:7] == ["VSP^080019FFFE134535^EUI-64", "GE Healthcare"]


def test_mindray_demo_capture_flags_every_value_and_keeps_nibp_time() -> None:
    readings, codec = decode(MINDRAY_VS900)
    got = by_metric(readings)
    assert {k: r.value for k, r in got.items()} == {
        "spo2": 100, "pulse_rate": 80, "perfusion_index": 12.0, "bp_systolic": 166, "bp_mean": 122,
        "bp_diastolic": 100}
    assert all(r.flags == ("demo",) for r in readings)
    assert got["spo2"].device_time == utc_ms(2020, 2, 12, 12, 55, 41)
    assert got["bp_systolic"].device_time == utc_ms(2020, 2, 12, 12, 50, 8)
    # MSH-16 "NE": this sender asked for no application acknowledgement.
    assert codec.take_output() == b""


def test_efficia_no_value_rows_give_status_not_readings() -> None:
    readings, codec = decode(EFFICIA_NO_VALUES)
    assert readings == []
    assert codec.status == ("spo2_unavailable", "heart_rate_unavailable")
    assert codec.skipped["status_x"] == 2
    [ack] = acks(codec)
    # Efficia's guide shows exactly this positive ACK for this message (p.3-26).
    assert ack["MSA"] == ["MSA", "AA", "MONITORABC000000002D"] and ack["MSH"][9] == "ACK^R04"


def msg(*obx: str, msh: str = "MSH|^~\\&|MON|WARD|||20240301101500||ORU^R01^ORU_R01|C1|P|2.6") -> bytes:
    return "\r".join([msh, "OBR|1|||182777000^monitoring of patient^SCT|||20240301101500", *obx]).encode()


def one(obx: str) -> Reading:
    readings, _ = decode(msg(obx))
    assert len(readings) == 1, readings
    return readings[0]


@pytest.mark.parametrize("code, metric", [
    ("147842^MDC_ECG_HEART_RATE^MDC", Metric.HEART_RATE),
    ("149530^MDC_PULS_OXIM_PULS_RATE^MDC", Metric.PULSE_RATE),
    ("149514^MDC_PULS_RATE^MDC", Metric.PULSE_RATE),
    ("149546^MDC_PULS_RATE_NON_INV^MDC", Metric.PULSE_RATE),
    ("149522^MDC_BLD_PULS_RATE_INV^MDC", Metric.PULSE_RATE),
    ("0002-4182^HR^MDIL", Metric.HEART_RATE),
    ("0002-480a^Pulse^MDIL", Metric.PULSE_RATE),
])
def test_heart_rate_only_from_the_ecg(code: str, metric: Metric) -> None:
    assert one(f"OBX|1|NM|{code}|1.1.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R").metric == metric


@pytest.mark.parametrize("code, metric", [
    ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", Metric.BP_SYSTOLIC),
    ("150301^MDC_PRESS_CUFF_SYS^MDC", Metric.BP_SYSTOLIC),
    ("150033^MDC_PRESS_BLD_ART_SYS^MDC", Metric.IBP_SYSTOLIC),
    ("150037^MDC_PRESS_BLD_ART_ABP_SYS^MDC", Metric.IBP_SYSTOLIC),
    ("0002-4a15^ABPs^MDIL", Metric.IBP_SYSTOLIC),
    ("0002-4a05^NBPs^MDIL", Metric.BP_SYSTOLIC),
    ("0002-f0bd^FemArtS^MDIL", Metric.IBP_SYSTOLIC),
])
def test_invasive_and_cuff_pressures_stay_apart(code: str, metric: Metric) -> None:
    assert one(f"OBX|1|NM|{code}|1.1.1.1|120|266016^MDC_DIM_MMHG^MDC|||||R").metric == metric


@pytest.mark.parametrize("code", ["150045^MDC_PRESS_BLD_ART_PULM_SYS^MDC",
                                  "150087^MDC_PRESS_BLD_VEN_CENT_MEAN^MDC",
                                  "61629^private^MDC",  # a Philips private term, but not said to be MDIL
                                  "150388^MDC_TEMP_SKIN^MDC", "8867-4^Heart rate^LN"])
def test_codes_outside_the_vocabulary_are_counted_not_read(code: str) -> None:
    readings, codec = decode(msg(f"OBX|1|NM|{code}|1|20|266016^MDC_DIM_MMHG^MDC|||||R"))
    assert readings == [] and codec.skipped["unknown_code"] == 1 and codec.stats.frames_ok == 1


@pytest.mark.parametrize("obx, metric, value", [
    ("150021^^MDC|1|16|265987^MDC_DIM_KILO_PASCAL^MDC", "bp_systolic", 120.01),
    ("151728^^MDC|1|5.3|kPa^kPa^UCUM", "etco2", 39.75),
    ("151708^^MDC|1|38|mm[Hg]^mm[Hg]^UCUM", "etco2", 38),
    ("150344^^MDC|1|98.6|266560^MDC_DIM_FAHR^MDC", "temperature", 37.0),
    ("188424^MDC_TEMP_ORAL^MDC|1|99.5|[degF]^[degF]^UCUM", "temperature", 37.5),
    ("150364^^MDC|1|36.6|Cel^Cel^UCUM", "temperature", 36.6),
    ("0002-f0c7^T1^MDIL|1|37.4|0004-17a0^C^MDIL", "temperature", 37.4),
    ("150456^^MDC|1|97||", "spo2", 97),
])
def test_units_are_converted_to_the_canonical_unit(obx: str, metric: str, value: float) -> None:
    r = one(f"OBX|1|NM|{obx}|||||R")
    assert str(r.metric) == metric and close_enough(float(r.value), value), r


@pytest.mark.parametrize("obx", [
    "151728^^MDC|1|5.0|262688^MDC_DIM_PERCENT^MDC",  # etCO2 as a concentration: needs ambient pressure
    "150448^MDC_PULS_OXIM_PERF_REL^MDC|1|1.5|262656^MDC_DIM_DIMLESS^MDC",  # Philips relative "Perf"
    "150344^^MDC|1|37.0|",  # a temperature with no unit could be either scale
    "150456^^MDC|1|97|999999^MDC_DIM_NONSENSE^MDC",
])
def test_unusable_units_are_counted_not_guessed(obx: str) -> None:
    readings, codec = decode(msg(f"OBX|1|NM|{obx}|||||R"))
    assert readings == [] and codec.skipped["unit"] == 1


def test_observation_time_honours_the_offset_and_falls_back_to_obr7() -> None:
    readings, _ = decode(msg(
        "OBX|1|NM|150456^^MDC|1|97|262688^^MDC|||||F|||20240301101500.250+0530",
        "OBX|2|NM|147842^^MDC|1|70|264864^^MDC|||||F|||20240301101500-0100",
        "OBX|3|NM|149530^^MDC|1|71|264864^^MDC|||||F|||2024030110",  # not to the minute: OBR-7 instead
    ))
    spo2, hr, pr = readings
    assert spo2.device_time == utc_ms(2024, 3, 1, 4, 45) + 250
    assert hr.device_time == utc_ms(2024, 3, 1, 11, 15)
    assert pr.device_time == utc_ms(2024, 3, 1, 10, 15)


@pytest.mark.parametrize("text, want", [
    ("20240229235959", utc_ms(2024, 2, 29, 23, 59, 59)), ("202402292359", utc_ms(2024, 2, 29, 23, 59)),
    ("20230229120000", None), ("20240301246000", None), ("2024-03-01", None), ("", None),
    ("20240301120000+2400", None), ("20240301120000.5", utc_ms(2024, 3, 1, 12, 0) + 500),
])
def test_parse_dtm(text: str, want: int | None) -> None:
    assert parse_dtm(text) == want


def test_result_status_and_abnormal_flags() -> None:
    readings, codec = decode(msg(
        "OBX|1|NM|150456^^MDC|1|88|262688^^MDC||L~DEMO|||C",
        "OBX|2|NM|147842^^MDC|1|150|264864^^MDC||HH|||P",
        "OBX|3|NM|151562^^MDC|1|18|264928^^MDC||N|||F",
        "OBX|4|NM|149530^^MDC|1||264864^^MDC|||||R",  # no value
        "OBX|5|NM|150344^^MDC|1|37.0|268192^^MDC|||||D",  # deleted
        "OBX|6|NM|150021^^MDC|1|8388607|266016^^MDC|||||R",  # IEEE 11073 NaN printed as a number
        "OBX|7|ST|150456^^MDC|1|probe off||||||F",
    ))
    got = by_metric(readings)
    assert got["spo2"].flags == ("abnormal_low", "demo", "corrected")
    assert got["heart_rate"].flags == ("critical_high", "preliminary")
    assert got["resp_rate"].flags == ()
    assert codec.status == ("pulse_rate_unavailable", "temperature_unavailable", "bp_systolic_unavailable")
    assert dict(codec.skipped) == {"no_value": 1, "status_d": 1, "special_value": 1, "not_numeric": 1}


def test_training_messages_are_kept_but_flagged() -> None:
    r, = decode(msg("OBX|1|NM|150456^^MDC|1|97|262688^^MDC|||||R",
                    msh="MSH|^~\\&|MON||||20240301101500||ORU^R01|T1|T|2.5"))[0]
    assert r.flags == ("test_data",)


def test_escaped_delimiters_and_other_encoding_characters() -> None:
    readings, codec = decode(
        b"MSH#$%@*#MON@T@X#FAC|1###20240301101500##ORU$R01#A@F@1#P#2.6\r"
        b"OBX#1#NM#150456$sp@S@o2$MDC#1#97#262688$@R@$MDC#####R")
    assert [(str(r.metric), r.value) for r in readings] == [("spo2", 97)]
    [ack] = acks_with_delims(codec)
    # Echoed fields keep the sender's own delimiters and escapes.
    assert ack == "MSH#$%@*#EDGE-APP##MON@T@X#FAC|1#20240301101500##ACK$R01$ACK#A@F@1#P#2.6\rMSA#AA#A@F@1\r"


def acks_with_delims(codec: Hl7OruCodec) -> list[str]:
    return [f.payload.decode() for f in MllpDeframer(CodecStats()).feed(codec.take_output())]


@pytest.mark.parametrize("data, ack_code, err_code, words", [
    (b"MSH|^~\\&|MON||||20240301||ADT^A01|Q7|P|2.6\rPID|||1", "AR", "200", "ADT^A01"),
    (b"MSH|^~\\&|MON||||20240301||ORU^R01|Q7|P|3.0\rOBX|1", "AR", "203", "version 3.0"),
    (b"MSH|^~\\&|MON||||20240301||ORU^R01|Q7|X|2.6", "AR", "202", "processing id X"),
    (b"MSH|^~\\&|MON||||20240301||ORU^R01|Q7|P|2.6\rOBX|1|NM|150456^^MDC|1|9x7|262688^^MDC", "AE", "102",
     "not a number"),
    (b"MSH|^~\\&|MON||||20240301||ORU^R01|Q7|P|2.6\rOB\x01X|1|NM", "AE", "100", "bad segment name"),
    (b"MSH|^~\\&|MON||||20240301|||Q7|P|2.6", "AE", "101", "MSH-9"),
])
def test_refused_messages_get_ae_or_ar_with_the_reason_and_no_readings(
        data: bytes, ack_code: str, err_code: str, words: str) -> None:
    good = msg("OBX|1|NM|150456^^MDC|1|97|262688^^MDC|||||R")
    readings, codec = decode(data)
    assert readings == [] and codec.stats.frames_bad == 1
    [ack] = acks(codec)
    assert ack["MSA"][1:3] == [ack_code, "Q7"] and words in unescape(ack["MSA"][3], Delimiters())
    assert ack["ERR"][3].split("^")[0] == err_code and ack["ERR"][4] == "E"  # 2.5+ ERR-3, ERR-4
    assert codec.feed(frame(good)), "the next good message decodes"


def test_err_before_2_5_uses_err_1_and_a_missing_control_id_gives_an_empty_msa_2() -> None:
    _, codec = decode(b"MSH|^~\\&|MON||||20240301||ORU^R01||P|2.4")
    [ack] = acks(codec)
    assert ack["MSA"][:3] == ["MSA", "AE", ""] and "MSH-10" in ack["MSA"][3]
    assert ack["ERR"][1] == "MSH^1^10^101&Required field missing&HL70357"


def test_noise_frames_without_an_msh_get_no_ack() -> None:
    readings, codec = decode(b"\x00garbage|with|pipes\r")
    assert readings == [] and codec.stats.frames_bad == 1 and codec.take_output() == b""


@pytest.mark.parametrize("mode, good_acked, bad_acked", [("AL", True, True), ("NE", False, False),
                                                         ("ER", False, True), ("SU", True, False)])
def test_msh_16_chooses_which_messages_are_acknowledged(mode: str, good_acked: bool, bad_acked: bool) -> None:
    head = f"MSH|^~\\&|MON||||20240301||ORU^R01^ORU_R01|G1|P|2.6|||NE|{mode}"
    _, codec = decode(f"{head}\rOBX|1|NM|150456^^MDC|1|97|262688^^MDC".encode())
    assert bool(codec.take_output()) == good_acked
    _, codec = decode(f"{head}\rOBX|1|NM|150456^^MDC|1|9?|262688^^MDC".encode())
    assert bool(codec.take_output()) == bad_acked


def test_acks_leave_in_message_order_and_are_drained() -> None:
    codec = Hl7OruCodec(application="BRIDGE", facility="AMB 7")
    obx = "OBX|1|NM|150456^^MDC|1|97|262688^^MDC"
    data = b"".join(frame(msg(obx, msh=f"MSH|^~\\&|M||||1||ORU^R01|N{i}|P|2.6")) for i in range(3))
    codec.feed(data)
    got = acks(codec)
    assert [a["MSA"][2] for a in got] == ["N0", "N1", "N2"]
    assert got[0]["MSH"][3:5] == ["BRIDGE", "AMB 7"]
    assert codec.take_output() == b""
