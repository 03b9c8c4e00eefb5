"""GATT health codecs: every shared gatt vector, each flag of each profile, specials, framing."""
from __future__ import annotations

import calendar
import json
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.codecs import codec_for
from firmware_bridge.codecs.gatt_base import frame, uuid16_of
from firmware_bridge.codecs.ieee11073 import Special, encode_float, encode_sfloat
from firmware_bridge.reading import Reading

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "devices.json").read_text())["vectors"]
GATT = [v for v in VECTORS if str(v.get("protocol", "")).startswith("gatt-")]
GLUCOSE_REF = next(v for v in VECTORS if v.get("reference") == "BLE GATT Glucose Measurement 0x2A18")
NAN = encode_sfloat(Special.NAN)


def decode(protocol: str, hex_or_bytes: str | bytes) -> list[Reading]:
    """What `edge-app decode PROTOCOL --hex HEX` does: one characteristic value, then flush."""
    data = bytes.fromhex(hex_or_bytes) if isinstance(hex_or_bytes, str) else hex_or_bytes
    codec = codec_for(protocol)
    return codec.feed(data) + codec.flush()


def by_metric(readings: list[Reading]) -> dict[str, Any]:
    return {str(r.metric): r.value for r in readings}


def utc_ms(*t: int) -> int:
    return calendar.timegm((*t, 0, 0, 0)) * 1000


def date_time(y: int, mo: int, d: int, h: int, mi: int, s: int) -> bytes:
    return y.to_bytes(2, "little") + bytes((mo, d, h, mi, s))


@pytest.mark.parametrize("vector", GATT, ids=lambda v: f"{v['protocol']}:{v['input_hex']}")
def test_shared_vector(vector: dict[str, Any]) -> None:
    codec = codec_for(vector["protocol"])
    readings = codec.feed(bytes.fromhex(vector["input_hex"])) + codec.flush()
    assert codec.stats.frames_ok == 1 and codec.stats.frames_bad == 0
    got = {str(r.metric): r for r in readings}
    for want in vector["readings"]:
        r = got[want["metric"]]
        assert r.unit == want["unit"]
        assert abs(float(r.value) - want["value"]) <= max(0.01, abs(want["value"]) * 0.001), (r, want)
    detail = vector["detail"]
    ts = detail.get("timestamp")
    if ts and ts.get("year"):
        when = utc_ms(ts["year"], ts["month"], ts["day"], ts["hour"], ts["minute"], ts["second"])
        assert all(r.device_time == when for r in readings)
    elif ts:
        assert all(r.device_time is None for r in readings)  # year 0: "not known" (GSS 3.70)
    for key in ("measurement_status", "device_sensor_status"):
        assert set(detail.get(key, [])) <= set(codec.status)


def test_every_gatt_protocol_has_a_vector() -> None:
    assert {v["protocol"] for v in GATT} == {"gatt-heart-rate", "gatt-blood-pressure", "gatt-temperature", "gatt-plx"}


def test_glucose_reference_vector_in_full() -> None:
    codec = codec_for("gatt-glucose")
    readings = codec.feed(bytes.fromhex(GLUCOSE_REF["input_hex"]))
    detail = GLUCOSE_REF["detail"]
    # 30 kg/L is no patient's glucose: the meter's insufficient-sample status withholds it anyway.
    assert readings == []
    assert set(detail["sensor_status"]) <= set(codec.status)
    assert {"sample_capillary_plasma", "location_finger", "context_follows"} <= set(codec.status)


def test_glucose_kg_per_l_and_mol_per_l_to_mmol_per_l_with_time_offset() -> None:
    base = date_time(2019, 2, 27, 11, 10, 30)
    # 90 mg/dL = 0.0009 kg/L = 9e-4 -> SFLOAT 9e-4 ; 90 / 18.016 = 4.9956 mmol/L
    kg = bytes((0x03,)) + b"\x01\x00" + base + (-5).to_bytes(2, "little", signed=True) + encode_sfloat(9, -4) + b"\x11"
    (r,) = decode("gatt-glucose", kg)
    assert r.unit == "mmol/L" and r.value == 5  # 90 / 18.016 = 4.9956, to 2 decimals
    assert r.device_time == utc_ms(2019, 2, 27, 11, 5, 30)
    assert r.flags == ("sample_capillary_whole_blood", "location_finger")
    mol = bytes((0x06,)) + b"\x02\x00" + base + encode_sfloat(55, -4) + b"\xf1"  # 5.5 mmol/L, location n/a
    (r,) = decode("gatt-glucose", mol)
    assert r.value == 5.5 and r.flags == ("sample_capillary_whole_blood",)


def test_glucose_control_solution_is_not_the_patient() -> None:
    value = bytes((0x02,)) + b"\x03\x00" + date_time(2024, 1, 1, 0, 0, 0) + encode_sfloat(55, -4) + b"\x4a"
    codec = codec_for("gatt-glucose")
    assert codec.feed(value) == [] and "sample_control_solution" in codec.status


def test_heart_rate_16_bit_no_contact_many_rr_and_saturated_energy() -> None:
    value = bytes((0x1D,)) + (300).to_bytes(2, "little") + b"\xff\xff" + (1024).to_bytes(2, "little") + (512).to_bytes(2, "little")
    codec = codec_for("gatt-heart-rate")
    readings = codec.feed(value)
    assert [(str(r.metric), r.value) for r in readings] == [("heart_rate", 300), ("rr_interval", 1), ("rr_interval", 0.5)]
    assert all(r.flags == ("no_sensor_contact",) for r in readings)
    assert codec.status == ("no_sensor_contact", "energy_expended_saturated")


@pytest.mark.parametrize("value", ["", "10", "01", "0155", "1055ab"])
def test_heart_rate_damaged_values_are_counted(value: str) -> None:
    codec = codec_for("gatt-heart-rate")
    assert codec.feed(bytes.fromhex(value)) == [] and codec.stats.frames_bad == 1


def test_heart_rate_beyond_bounds_is_status_not_a_reading() -> None:
    codec = codec_for("gatt-heart-rate")
    assert codec.feed(b"\x01\xff\x7f") == [] and codec.status == ("implausible_value",)
    assert codec.skipped["implausible"] == 1


def test_blood_pressure_kpa_and_nan_mean() -> None:
    value = b"\x05" + encode_sfloat(160, -1) + encode_sfloat(107, -1) + NAN + encode_sfloat(72)
    codec = codec_for("gatt-blood-pressure")
    got = by_metric(codec.feed(value))
    assert abs(got["bp_systolic"] - 120.01) < 0.01 and abs(got["bp_diastolic"] - 80.26) < 0.01
    assert "bp_mean" not in got and got["pulse_rate"] == 72
    assert codec.status == ("bp_mean_nan",)


def test_blood_pressure_pulse_range_flag() -> None:
    value = b"\x10" + encode_sfloat(120) * 3 + (0x08).to_bytes(2, "little")
    codec = codec_for("gatt-blood-pressure")
    assert codec.feed(value)[0].flags == ("pulse_rate_exceeds_upper_limit",)


def test_temperature_fahrenheit_and_specials() -> None:
    (r,) = decode("gatt-temperature", b"\x01" + encode_float(986, -1))
    assert abs(r.value - 37.0) < 1e-9 and r.unit == "Cel"  # type: ignore[operator]
    for special in Special:
        codec = codec_for("gatt-temperature")
        assert codec.feed(b"\x00" + encode_float(special)) == []
        assert codec.status == (f"temperature_{special.flag}",)


def test_plx_continuous_with_fast_slow_and_invalid_measurement() -> None:
    normal, fast, slow = encode_sfloat(97) + encode_sfloat(61), encode_sfloat(96) + encode_sfloat(62), b"\x00" * 4
    got = by_metric(decode("gatt-plx", b"\x03" + normal + fast + slow))
    assert got == {"spo2": 97, "pulse_rate": 61}
    codec = codec_for("gatt-plx")
    assert codec.feed(b"\x04" + normal + (1 << 15).to_bytes(2, "little")) == []
    assert codec.status == ("invalid_measurement",)


def test_plx_spot_check_clock_not_set_drops_the_time() -> None:
    value = b"\x11" + encode_sfloat(97) + encode_sfloat(61) + date_time(2024, 1, 2, 3, 4, 5)
    codec = codec_for("gatt-plx", framed=True)
    readings = codec.feed(frame(0x2A5E, value))
    assert by_metric(readings) == {"spo2": 97, "pulse_rate": 61}
    assert all(r.device_time is None for r in readings) and codec.status == ("device_clock_not_set",)


def test_plx_length_that_fits_neither_layout_is_bad() -> None:
    codec = codec_for("gatt-plx")
    assert codec.feed(bytes.fromhex("00e8f384f300")) == [] and codec.stats.frames_bad == 1


def test_framed_stream_decodes_in_any_split_and_skips_other_characteristics() -> None:
    hr = [bytes((0x00, bpm)) for bpm in (60, 61, 62)]
    stream = frame(0x2A37, hr[0]) + frame(0x2A38, b"\x01") + frame(0x2A37, hr[1]) + frame(0x2A37, hr[2])
    for step in (1, 3, 7, len(stream)):
        codec = codec_for("gatt-heart-rate", framed=True)
        out: list[Reading] = []
        for i in range(0, len(stream), step):
            out += codec.feed(stream[i:i + step])
        assert [r.value for r in out] == [60, 61, 62] and codec.stats.frames_ok == 3


def test_framed_impossible_length_resyncs() -> None:
    codec = codec_for("gatt-heart-rate", framed=True)
    assert codec.feed(b"\x37\x2a\xff\xff") == [] and codec.stats.resyncs == 1
    assert [r.value for r in codec.feed(frame(0x2A37, b"\x00\x50"))] == [80]


def test_glucose_asks_for_the_last_record_only_when_framed() -> None:
    assert codec_for("gatt-glucose").on_connect() == b""
    assert codec_for("gatt-glucose", framed=True).on_connect() == frame(0x2A52, b"\x01\x06")


def test_uuid16_of() -> None:
    assert uuid16_of("00002a37-0000-1000-8000-00805f9b34fb") == uuid16_of("2A37") == uuid16_of("0x2a37") == 0x2A37
