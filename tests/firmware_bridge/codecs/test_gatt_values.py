"""GATT values the review found misread: RR flags with no RR bytes, float noise, PLX layouts that collide."""
from __future__ import annotations

import pytest

from firmware_bridge.codecs import codec_for
from firmware_bridge.codecs.gatt_base import frame
from firmware_bridge.codecs.gatt_plx import continuous_size, spot_check_size
from firmware_bridge.codecs.ieee11073 import encode_float, encode_sfloat

RR = 0x10


@pytest.mark.parametrize("flags, body", [
    (RR, b"\x55"),  # 8-bit rate, then nothing
    (RR | 0x01, b"\x55\x00"),  # 16-bit rate, then nothing
    (RR | 0x08, b"\x55\x10\x00"),  # rate and energy expended, then nothing
    (RR | 0x06 | 0x08, b"\x55\xff\xff"),  # contact bits and saturated energy, then nothing
])
def test_heart_rate_rr_flag_without_rr_bytes_is_refused(flags: int, body: bytes) -> None:
    # HRS 1.0 3.1.1: flags bit 4 says one or more RR-Interval values are present; none is a damaged value.
    codec = codec_for("gatt-heart-rate")
    assert codec.feed(bytes((flags,)) + body) == []
    assert codec.stats.frames_bad == 1 and codec.stats.frames_ok == 0


def test_heart_rate_with_rr_bytes_and_without_the_flag_still_decode() -> None:
    codec = codec_for("gatt-heart-rate")
    assert [r.value for r in codec.feed(b"\x10\x55\x00\x04")] == [85, 1]
    assert [r.value for r in codec.feed(b"\x00\x55")] == [85]
    assert codec.stats.frames_bad == 0


def rounded_like_hl7(value: object) -> bool:
    """hl7_oru's rule: a converted value to 2 decimals, a whole number as an int."""
    if isinstance(value, float):
        return not value.is_integer() and round(value, 2) == value
    return isinstance(value, int)


@pytest.mark.parametrize("protocol, value, want", [
    # FLOAT 9700001e-5 %: 97.00001, shown 97 (PLX SpO2 is an SFLOAT; the temperature is a FLOAT)
    ("gatt-temperature", b"\x00" + encode_float(3700001, -5), 37),
    ("gatt-temperature", b"\x00" + encode_float(3712345, -5), 37.12),
    ("gatt-temperature", b"\x01" + encode_float(986, -1), 37),  # 98.6 F: (98.6 - 32) * 5 / 9 = 37.000000000000004
    ("gatt-temperature", b"\x01" + encode_float(1000, -1), 37.78),
    ("gatt-blood-pressure", b"\x01" + encode_sfloat(160, -1) + encode_sfloat(107, -1) + encode_sfloat(133, -1), 120.01),
    ("gatt-plx", bytes(1) + encode_sfloat(975, -1) + encode_sfloat(61), 97.5),
    ("gatt-heart-rate", b"\x10\x48" + (300).to_bytes(2, "little"), 72),  # RR 300/1024 s = 0.29296875 s
])
def test_gatt_values_are_rounded_like_hl7_values(protocol: str, value: bytes, want: float) -> None:
    readings = codec_for(protocol).feed(value)
    assert readings and all(rounded_like_hl7(r.value) for r in readings), readings
    assert readings[0].value == want and type(readings[0].value) is type(want)


def test_rr_interval_and_glucose_are_rounded_too() -> None:
    (_, rr) = codec_for("gatt-heart-rate").feed(b"\x10\x48" + (300).to_bytes(2, "little"))
    assert rr.value == 0.29
    date_time = (2024).to_bytes(2, "little") + bytes((1, 2, 3, 4, 5))
    # 90 mg/dL as kg/L: 9e-4 * 100000 / 18.016 = 4.9955595... mmol/L
    (g,) = codec_for("gatt-glucose").feed(b"\x02\x01\x00" + date_time + encode_sfloat(9, -4) + b"\x11")
    assert g.value == 5 and type(g.value) is int


# PLX spot-check (PLXS 1.0.1 3.1.1) with every field its flags name: timestamp, measurement status
# (validated data), device and sensor status (none set), pulse amplitude index 2.5 %.
def spot_check(flags: int) -> bytes:
    value = bytes((flags,)) + encode_sfloat(97) + encode_sfloat(61)
    if flags & 0x01:
        value += (2024).to_bytes(2, "little") + bytes((1, 2, 3, 4, 5))
    if flags & 0x02:
        value += (1 << 7).to_bytes(2, "little")
    if flags & 0x04:
        value += bytes(3)
    if flags & 0x08:
        value += encode_sfloat(25, -1)
    return value


def by_metric(readings: list) -> dict[str, object]:
    return {str(r.metric): r.value for r in readings}


AMBIGUOUS = [f for f in range(0x100) if continuous_size(f) == spot_check_size(f) and f & 0x0F]


def test_the_reviews_flag_sets_are_among_the_ambiguous_ones() -> None:
    assert {0x0B, 0x0C, 0x17, 0x19} <= set(AMBIGUOUS)


@pytest.mark.parametrize("flags", AMBIGUOUS)
def test_plx_value_that_fits_both_layouts_and_reads_differently_is_refused_unframed(flags: int) -> None:
    value = spot_check(flags)
    codec = codec_for("gatt-plx")
    assert codec.feed(value) == [] and codec.stats.frames_bad == 1
    assert "--uuid 2a5e" in codec.last_error and "2a5f" in codec.last_error
    # Told which characteristic sent it, the same bytes decode as the spot-check they are.
    framed = codec_for("gatt-plx", framed=True)
    got = by_metric(framed.feed(frame(0x2A5E, value)))
    assert got["spo2"] == 97 and got["pulse_rate"] == 61
    assert ("perfusion_index" in got) == bool(flags & 0x08)


@pytest.mark.parametrize("value", [
    bytes(1) + encode_sfloat(97) + encode_sfloat(61),  # flags 0: the layouts agree byte for byte
    bytes((0x10,)) + encode_sfloat(97) + encode_sfloat(61) + encode_sfloat(25, -1),  # continuous with PAI only
    spot_check(0x01),  # 12 bytes: only the spot-check layout fits
])
def test_plx_values_one_layout_explains_still_decode_unframed(value: bytes) -> None:
    codec = codec_for("gatt-plx")
    assert by_metric(codec.feed(value))["spo2"] == 97 and codec.stats.frames_bad == 0
