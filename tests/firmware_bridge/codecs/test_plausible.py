"""Physiological plausibility: one rule for every codec's readings (firmware_bridge.plausible)."""
from __future__ import annotations

import pytest

from firmware_bridge.codecs import codec_for, implemented_protocols
from firmware_bridge.codecs.base import Codec
from firmware_bridge.codecs.ieee11073 import encode_float, encode_sfloat
from firmware_bridge.codecs.hl7_mllp import frame
from firmware_bridge.flags import INFORMATIONAL, UNRELIABLE, is_unreliable
from firmware_bridge.metrics import METRICS, Metric, ValueKind
from firmware_bridge.plausible import PLAUSIBLE, plausible
from firmware_bridge.reading import Reading


def hl7(obx: str) -> bytes:
    return frame(("MSH|^~\\&|MON||||20240301101500||ORU^R01|C1|P|2.6\r" + obx).encode())


def masimo(spo2: int, bpm: int) -> bytes:
    return f"09/15/10 15:10:29 SPO2={spo2:03d}% BPM={bpm:03d} PI=01.20% ALARM=0000 EXC=000000\r\n".encode()


def df8(spo2: int, hr: int) -> bytes:
    return bytes((0x80 | hr >> 7, hr & 0x7F, spo2, 0)) * 2


def plx(spo2: bytes, pr: bytes) -> bytes:
    return b"\x00" + spo2 + pr


# (protocol, bytes, the implausible metric, a plausible one that comes with it in the same frame)
CASES: list[tuple[str, bytes, str, str | None]] = [
    ("gatt-plx", plx(encode_sfloat(98, -8), encode_sfloat(61)), "spo2", "pulse_rate"),  # 9.8e-07 %
    ("gatt-plx", plx(encode_sfloat(29), encode_sfloat(61)), "spo2", "pulse_rate"),
    ("gatt-plx", plx(encode_sfloat(97), encode_sfloat(9)), "pulse_rate", "spo2"),
    ("gatt-heart-rate", b"\x00\x09", "heart_rate", None),
    ("gatt-heart-rate", b"\x01\xff\x7f", "heart_rate", None),  # 32767 /min
    ("gatt-blood-pressure", b"\x00" + encode_sfloat(5) + encode_sfloat(80) + encode_sfloat(93), "bp_systolic",
     "bp_diastolic"),
    ("gatt-temperature", b"\x00" + encode_float(5), "temperature", None),
    ("gatt-temperature", b"\x00" + encode_float(98, -8), "temperature", None),
    ("masimo-ascii", masimo(25, 72), "spo2", "pulse_rate"),
    ("masimo-ascii", masimo(97, 4), "pulse_rate", "spo2"),
    ("nonin-df8", df8(12, 72), "spo2", "pulse_rate"),
    ("nonin-df8", df8(97, 3), "pulse_rate", "spo2"),
    ("hl7-oru", hl7("OBX|1|NM|150456^^MDC|1|29|262688^^MDC|||||R\rOBX|2|NM|147842^^MDC|1|70|264864^^MDC|||||R"),
     "spo2", "heart_rate"),
    ("hl7-oru", hl7("OBX|1|NM|147842^^MDC|1|0|264864^^MDC|||||R\rOBX|2|NM|150456^^MDC|1|97|262688^^MDC|||||R"),
     "heart_rate", "spo2"),
    ("hl7-oru", hl7("OBX|1|NM|151562^^MDC|1|200|264928^^MDC|||||R\rOBX|2|NM|150456^^MDC|1|97|262688^^MDC|||||R"),
     "resp_rate", "spo2"),
    ("hl7-oru", hl7("OBX|1|NM|150344^^MDC|1|60|268192^^MDC|||||R\rOBX|2|NM|150456^^MDC|1|97|262688^^MDC|||||R"),
     "temperature", "spo2"),
    ("hl7-oru", hl7("OBX|1|NM|150021^^MDC|1|420|266016^^MDC|||||R\rOBX|2|NM|150456^^MDC|1|97|262688^^MDC|||||R"),
     "bp_systolic", "spo2"),
]


def run(protocol: str, data: bytes) -> tuple[list[Reading], Codec]:
    codec = codec_for(protocol)
    return codec.feed(data) + codec.flush(), codec


@pytest.mark.parametrize("protocol, data, bad, good", CASES, ids=lambda c: c if isinstance(c, str) else None)
def test_an_implausible_value_is_counted_and_flagged_not_emitted(protocol: str, data: bytes, bad: str,
                                                                 good: str | None) -> None:
    readings, codec = run(protocol, data)
    metrics = {str(r.metric) for r in readings}
    assert bad not in metrics
    assert good is None or good in metrics  # the frame's other values stand
    assert codec.skipped["implausible"] >= 1
    assert "implausible_value" in codec.status and not is_unreliable(("implausible_value",))


def test_the_next_clean_frame_clears_the_status_flag() -> None:
    codec = codec_for("gatt-plx")
    codec.feed(plx(encode_sfloat(20), encode_sfloat(61)))
    assert "implausible_value" in codec.status
    assert [r.value for r in codec.feed(plx(encode_sfloat(96), encode_sfloat(61)))] == [96, 61]
    assert codec.status == () and codec.skipped["implausible"] == 1


@pytest.mark.parametrize("metric, low, high", [
    (Metric.SPO2, 30, 100), (Metric.PULSE_RATE, 10, 350), (Metric.HEART_RATE, 10, 350),
])
def test_the_reviews_floors_hold_at_their_edges(metric: Metric, low: float, high: float) -> None:
    assert plausible(metric, low) and plausible(metric, high)
    assert not plausible(metric, low - 0.01) and not plausible(metric, high + 0.01)


def test_the_edges_through_a_codec() -> None:
    assert [r.value for r in run("gatt-plx", plx(encode_sfloat(30), encode_sfloat(10)))[0]] == [30, 10]
    assert run("gatt-plx", plx(encode_sfloat(29), encode_sfloat(10)))[0][0].value == 10


def test_every_number_metric_has_bounds_inside_the_contracts() -> None:
    for metric, info in METRICS.items():
        if info.kind is not ValueKind.NUMBER:
            continue
        low, high = PLAUSIBLE[metric]
        assert info.low is not None and info.high is not None
        assert info.low <= low < high <= info.high, metric  # never wider than what manual entry accepts


def test_text_and_boolean_values_are_not_judged() -> None:
    assert plausible(Metric.CONSCIOUSNESS, "A") and plausible(Metric.OXYGEN_SUPPLEMENT, True)


def test_the_flag_leaves_the_frames_other_values_standing() -> None:
    # The implausible value itself is never emitted; the status word does not doubt the others.
    assert "implausible_value" in INFORMATIONAL and "implausible_value" not in UNRELIABLE


@pytest.mark.parametrize("protocol", implemented_protocols())
def test_every_codec_has_the_skip_counter(protocol: str) -> None:
    assert dict(codec_for(protocol).skipped) == {}
