"""MasimoAsciiCodec against public vectors, captured lines, line-end variants and damaged input."""
from __future__ import annotations

import calendar
import json
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.codecs import codec_for
from firmware_bridge.codecs.masimo_ascii import MAX_LINE, MasimoAsciiCodec
from firmware_bridge.metrics import Metric
from firmware_bridge.reading import Reading

VECTORS = Path(__file__).parents[2] / "vectors" / "devices.json"
MASIMO_VECTORS = [v for v in json.loads(VECTORS.read_text())["vectors"] if v.get("protocol") == "masimo-ascii"]

# Real Rad-8 capture, ASCII 1 mode (yahnatan/pulseox README.md; also in tests/vectors/devices.json).
RAD8 = b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n"
# Radical-5 example string (mdpnp/mdpnp other/pox_rad/src/poxrad_discrete.h, _radical5_examplestring).
RAD5 = b"09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800\r\n"
# Radical-7 example string (mdpnp/mdpnp other/pox_rad/src/poxrad_discrete.h, _radical7_examplestring).
RAD7 = (b"12/01/05 11:56:29 SN=0123456789 SPO2=098% BPM=240 PI=20.00% SPCO=01.0% SPMET=00.5% DESAT=01 "
        b"PIDELTA=-02 PVI=027 ALARM=0000 EXC=000820\r\n")
# Radical-7 "color" line with extra keys and PI without '%' (nmenon/masimo-datacapture masimo-capture.py,
# comment in _parse_rad7_color_serial_1; the comment wraps it over three lines, joined here with spaces).
RAD7_COLOR = (b"03/17/16 19:19:36 SN=---------- SPO2=098% BPM=123 PI=00.55 SPCO=--% SPMET=--.-% SPHB=--.- "
              b"SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=0000C00 EXC1=00000000\r\n")
# Rad-8 with no sensor (nmenon/masimo-datacapture masimo-capture.py, comment in _parse_rad8_serial_1).
RAD8_NO_SENSOR = b"03/19/16 13:37:12 SN=0000093112 SPO2=---% BPM=---% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000001\r\n"
# Rad-8 Operator's Manual, "Trend data format" sample: a trend dump, not ASCII 1 (000 there means "no data").
TREND_DUMP = (b"09/21/08 09:56:08 SpO2=000 PR=000 PI=00.00 EXC=820:OffPat,SET\r\n"
              b"09/21/08 09:56:12 SpO2=097 PR=069 PI=04.69 EXC=800:SET\r\n")


def utc_ms(y: int, mo: int, d: int, h: int, mi: int, s: int) -> int:
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000


def values(readings: list[Reading]) -> dict[str, float | str | bool]:
    out = {str(r.metric): r.value for r in readings}
    assert len(out) == len(readings), f"a metric twice in one line: {readings}"
    return out


def decode(data: bytes) -> tuple[list[Reading], MasimoAsciiCodec]:
    codec = MasimoAsciiCodec()
    return codec.feed(data) + codec.flush(), codec


def close_enough(got: float, want: float) -> bool:
    return abs(got - want) <= max(0.01, abs(want) * 0.001)


@pytest.mark.parametrize("vector", MASIMO_VECTORS, ids=lambda v: v["input_text"][:26])
def test_public_vector(vector: dict[str, Any]) -> None:
    codec = codec_for("masimo-ascii")
    readings = codec.feed(vector["input_text"].encode("ascii") + b"\r\n")
    got = {str(r.metric): r for r in readings}
    assert len(got) == len(readings)
    for want in vector["readings"]:  # extra readings are allowed by the vectors' contract
        r = got[want["metric"]]
        assert r.unit == want["unit"]
        assert close_enough(float(r.value), want["value"]), (r, want)
    assert codec.stats.frames_ok == 1 and codec.stats.frames_bad == 0
    detail = vector["detail"]
    flags = tuple(detail.get("alarm_flags", []) + detail.get("exc_flags", []))
    if "alarm_flags" in detail or "exc_flags" in detail:
        assert codec.status == flags
        assert all(r.flags == flags for r in readings)
    if "date_mmddyy" in detail:
        mm, dd, yy = (int(x) for x in detail["date_mmddyy"].split("/"))
        h, mi, s = (int(x) for x in detail["time"].split(":"))
        assert all(r.device_time == utc_ms(2000 + yy, mm, dd, h, mi, s) for r in readings)


def test_vectors_are_all_here() -> None:
    assert len(MASIMO_VECTORS) >= 3


def test_rad8_whole_result() -> None:
    t = utc_ms(2016, 2, 22, 22, 47, 45)
    f = ("masimo_set",)
    assert decode(RAD8)[0] == [
        Reading(Metric.SPO2, 98, "%", t, f),
        Reading(Metric.PULSE_RATE, 97, "/min", t, f),
        Reading(Metric.PERFUSION_INDEX, 3.6, "%", t, f),
    ]


def test_radical5_whole_result() -> None:
    t = utc_ms(2010, 9, 15, 15, 10, 29)
    f = ("alarm_silenced", "masimo_set")
    assert decode(RAD5)[0] == [
        Reading(Metric.SPO2, 97, "%", t, f),
        Reading(Metric.PULSE_RATE, 64, "/min", t, f),
        Reading(Metric.PERFUSION_INDEX, 11.82, "%", t, f),
    ]


def test_radical7_example_with_sensor_off_bit() -> None:
    readings, codec = decode(RAD7)
    assert values(readings) == {"spo2": 98, "pulse_rate": 240, "perfusion_index": 20.0}
    assert codec.status == ("sensor_off", "masimo_set")
    assert readings[0].device_time == utc_ms(2005, 12, 1, 11, 56, 29)


def test_radical7_color_line_is_parsed_by_key() -> None:
    readings, codec = decode(RAD7_COLOR)
    assert values(readings) == {"spo2": 98, "pulse_rate": 123, "perfusion_index": 0.55}
    assert codec.status == ("low_signal_iq", "masimo_set")


def test_no_sensor_line_gives_no_readings_but_a_status() -> None:
    codec = MasimoAsciiCodec()
    assert codec.feed(RAD8) and codec.status == ("masimo_set",)
    assert codec.feed(RAD8_NO_SENSOR) == []
    assert codec.status == ("no_sensor",)
    assert codec.stats.frames_ok == 2 and codec.stats.frames_bad == 0
    assert codec.feed(RAD8) and codec.status == ("masimo_set",)


def test_trend_dump_lines_are_not_taken_for_live_values() -> None:
    readings, codec = decode(TREND_DUMP)
    assert readings == []
    assert codec.stats.frames_bad == 2 and codec.stats.frames_ok == 0


@pytest.mark.parametrize("end", [b"\r\n", b"\n", b"\r", b"\n\r", b"\r\r\n"])
def test_line_end_variants(end: bytes) -> None:
    stream = RAD8.rstrip() + end + RAD5.rstrip() + end
    readings, codec = decode(stream)
    assert [r.value for r in readings] == [98, 97, 3.6, 97, 64, 11.82]
    assert codec.stats.frames_ok == 2 and codec.stats.frames_bad == 0


def test_byte_by_byte_equals_whole() -> None:
    stream = (b"\x00\xffnoise\r\n" + RAD8 + RAD5[:20] + b"\r\n" + b"X" * 700 + b"\n" + RAD7 + RAD8_NO_SENSOR
              + RAD7_COLOR + b"junk" + RAD5)
    whole = MasimoAsciiCodec()
    expected = whole.feed(stream)
    single = MasimoAsciiCodec()
    got = [r for i in range(len(stream)) for r in single.feed(stream[i:i + 1])]
    assert got == expected
    assert single.stats == whole.stats and single.status == whole.status
    assert len(expected) == 3 * 4  # RAD8, RAD7, RAD7_COLOR and RAD5 (after its glued junk)


def test_flush_decodes_a_final_line_without_line_end() -> None:
    codec = MasimoAsciiCodec()
    assert codec.feed(RAD5.rstrip()) == []
    assert values(codec.flush()) == {"spo2": 97, "pulse_rate": 64, "perfusion_index": 11.82}
    assert codec.flush() == []


# Each case is a damaged line (made up here), followed by a good line that must still decode.
DAMAGED = {
    "binary noise": bytes(range(256)) + b"\r\n",
    "no recognised key": b"02/22/16 22:47:45 HELLO=1 WORLD=2\r\n",
    "half line": RAD8[:48] + b"\r\n",  # cut inside BPM=097
    "tail of a line": RAD8[-40:],
    "spo2 over 100": RAD8.replace(b"SPO2=098", b"SPO2=101"),
    "bpm over 350": RAD8.replace(b"BPM=097", b"BPM=351"),
    "letters in a value": RAD8.replace(b"BPM=097", b"BPM=0x7"),
    "short value": RAD8.replace(b"SPO2=098", b"SPO2=98"),
    "bad hex": RAD8.replace(b"EXC=000800", b"EXC=00G800"),
    "key twice": RAD8.rstrip() + b" SPO2=050%\r\n",
    "only a stamp": b"02/22/16 22:47:45\r\n",
}


@pytest.mark.parametrize("damage", DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_line_is_counted_and_the_next_line_decodes(damage: bytes) -> None:
    codec = MasimoAsciiCodec()
    bad = codec.feed(damage)
    assert codec.stats.frames_bad >= (0 if damage is DAMAGED["tail of a line"] else 1)
    good = codec.feed(RAD5)
    assert values(good) == {"spo2": 97, "pulse_rate": 64, "perfusion_index": 11.82}
    # What a damaged line gives, if anything, is a subset of what the undamaged line said.
    assert set(values(bad).items()) <= {("spo2", 98), ("pulse_rate", 97), ("perfusion_index", 3.6)}


def test_boundary_values_are_accepted() -> None:
    readings, _ = decode(RAD8.replace(b"SPO2=098", b"SPO2=100").replace(b"BPM=097", b"BPM=350"))
    assert values(readings) == {"spo2": 100, "pulse_rate": 350, "perfusion_index": 3.6}


def test_overlong_line_is_dropped_and_resynced_at_the_next_line_end() -> None:
    codec = MasimoAsciiCodec()
    assert codec.feed(b"A" * (MAX_LINE + 1)) == []
    assert codec.stats.frames_bad == 1 and codec.stats.resyncs == 1
    # The rest of the over-long line, even if it looks like a frame, is dropped with it.
    assert codec.feed(b"B" * 5000 + RAD8) == []
    assert codec.stats.frames_bad == 1
    assert values(codec.feed(RAD5))["spo2"] == 97
    assert codec.flush() == []


def test_noise_glued_before_a_line_is_skipped_with_a_resync() -> None:
    readings, codec = decode(b"\x13\x37\xfe" + RAD8)
    assert values(readings)["spo2"] == 98
    assert codec.stats.resyncs == 1 and codec.stats.frames_bad == 1 and codec.stats.frames_ok == 1


def test_two_lines_run_together_keep_only_the_complete_second() -> None:
    readings, codec = decode(RAD8[:70] + RAD5)  # the first line's end was lost
    assert values(readings) == {"spo2": 97, "pulse_rate": 64, "perfusion_index": 11.82}
    assert codec.stats.frames_bad == 1


def test_invalid_stamp_gives_no_device_time() -> None:
    readings, _ = decode(RAD5.replace(b"09/15/10", b"13/45/10"))
    assert readings and all(r.device_time is None for r in readings)
    readings, _ = decode(RAD5.replace(b"09/15/10 15:10:29 ", b""))
    assert values(readings)["spo2"] == 97 and readings[0].device_time is None


def test_counts_bytes_in() -> None:
    _, codec = decode(RAD8 + b"junk\r\n")
    assert codec.stats.bytes_in == len(RAD8) + 6


def test_a_line_without_alarm_or_exc_leaves_the_status_alone() -> None:
    codec = MasimoAsciiCodec()
    codec.feed(RAD8_NO_SENSOR)
    readings = codec.feed(RAD8[:60] + b"\r\n")  # a cut line that still ends after PI: values, no flags
    assert values(readings) == {"spo2": 98, "pulse_rate": 97, "perfusion_index": 3.6}
    assert codec.status == ("no_sensor",)
