"""Nonin layouts, checksums, status bits and host commands against the public reference vectors and captures."""
from __future__ import annotations

import calendar
import json
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.codecs.nonin_commands import (
    set_format_command,
    set_format_extended_command,
    set_time_command,
)
from firmware_bridge.codecs.nonin_frames import (
    PACKET_FRAMES,
    Frame,
    checksum,
    checksum_ok,
    decode_df2_frame,
    decode_df7_frame,
    decode_df8,
    decode_df13_data,
    decode_packet,
    df2_header_ok,
    df7_header_ok,
    df13_time,
    status_flags,
    valid_df2_frame,
    valid_df7_frame,
)

VECTORS = Path(__file__).parents[2] / "vectors" / "devices.json"
ALL_VECTORS: list[dict[str, Any]] = json.loads(VECTORS.read_text())["vectors"]
NONIN_REFERENCE = [v for v in ALL_VECTORS if str(v.get("reference", "")).startswith("Nonin")]
NONIN_PROTOCOL = [v for v in ALL_VECTORS if str(v.get("protocol", "")).startswith("nonin-")]


def _hex_frames(text: str) -> list[bytes]:
    return [bytes.fromhex(f) for f in text.split()]


def _reframe_df7(df2: list[bytes]) -> list[bytes]:
    out = []
    for f in df2:
        body = bytes((f[1], f[2], 0x00, f[3]))
        out.append(body + bytes((checksum(body),)))
    return out


# One OEM III packet, HR 72 / SpO2 97 (pez-globo/pufferfish-software TestNoninOEM3.cpp; devices.json vector).
PUFFERFISH_DF2 = bytes.fromhex(next(v for v in NONIN_PROTOCOL if v["protocol"] == "nonin-df2")["input_hex"])
# 30 frames captured from an Onyx II 9560 in format 2 (mattjlewis/NoninPulseOx DataFormat2FrameSerialiser.java,
# the "Example" comment): the tail of a packet, one whole packet (frames 5-29: HR 74, SpO2 96), one SYNC frame.
ONYX_DF2_FRAMES = _hex_frames(
    "01804900CA 0180464A11 01804400C5 01804300C4 01814300C5 0180434A0E 0180436024 0180439458 01804300C4 "
    "01804100C2 01803E17D6 01803C04C1 018039601A 0180366017 0180356016 01803400B5 01803400B5 01803400B5 "
    "0180354A00 0180366017 0180376018 01803A00BB 01804000C1 01804A00CB 0180574A22 01806900EA 01807C4A47 "
    "0180900011 0180A10022 0181AF0031")
ONYX_DF2 = b"".join(ONYX_DF2_FRAMES)
# No public format 7 capture was found: the Onyx capture's STATUS and FLOAT bytes in format 7 framing, its
# 8-bit pleth as the 16-bit MSB (constructed here, per cordova-plugin-nonin-bluetooth NoninFrame.java).
ONYX_DF7 = b"".join(_reframe_df7(ONYX_DF2_FRAMES))
# Format 8, HR 72 / SpO2 97 (devices.json vector, constructed per the Nonin 9560 Bluetooth spec p.16-17).
DF8_72_97 = bytes.fromhex("80486100")
# Format 13 record, constructed per mattjlewis DataFormat13Serialiser and MediPi N9560Measurement:
# 2016-02-22 22:47:45.50 in BCD, SPA set, HR 72, SpO2 97.
DF13_DATA_BCD = bytes.fromhex("2016022222474550" "0200" "0048" "00" "61")
DF13_72_97 = b"\x00\x02\x00\x0d\x00\x0e" + DF13_DATA_BCD + bytes((checksum(DF13_DATA_BCD), 0x03))
DF13_TIME = calendar.timegm((2016, 2, 22, 22, 47, 45, 0, 0, 0)) * 1000 + 500


def test_every_nonin_vector_is_tested() -> None:
    assert len(NONIN_PROTOCOL) == 2
    assert len(NONIN_REFERENCE) == 14
    assert {v["reference"] for v in NONIN_REFERENCE} == set(REFERENCE_CHECKS)


def _check_df2_frame(raw: bytes, detail: dict[str, Any]) -> None:
    assert checksum_ok(raw) is detail["checksum_ok"]
    if "header_ok" in detail:
        assert df2_header_ok(raw) is detail["header_ok"]
    assert valid_df2_frame(raw) is (detail["checksum_ok"] and detail.get("header_ok", True))
    frame = decode_df2_frame(raw)
    if "status" in detail:
        assert frame.sync is detail["status"]["sync"]
    if isinstance(detail.get("float_byte"), int):
        assert frame.float_byte == detail["float_byte"]
    elif "float_byte" in detail:
        assert detail["float_byte"] == "HR MSB = 0" and frame.float_byte == 0 and frame.sync


def _check_status(raw: bytes, detail: dict[str, Any]) -> None:
    expected: set[str] = set()
    if "perfusion" in detail:
        expected.add(f"perfusion_{detail['perfusion']}")
    names = {"snsa_sensor_alarm": "sensor_alarm", "oot_out_of_track": "out_of_track", "artf_artifact": "artifact",
             "snsd_or_reserved": "sensor_disconnect"}
    expected |= {names[k] for k, v in detail.items() if k in names and v}
    assert set(status_flags(raw[0], snsd=True)) == expected
    # Bit 6 is SNSD in format 2 only; format 7 leaves it undecoded.
    assert set(status_flags(raw[0], snsd=False)) == expected - {"sensor_disconnect"}


def _check_set_format(raw: bytes, detail: dict[str, Any]) -> None:
    assert set_format_command(detail["data_format"]) == raw


def _check_set_time(raw: bytes, detail: dict[str, Any]) -> None:
    ms = calendar.timegm((2000 + detail["year"], detail["month"], detail["day"], detail["hour"],
                          detail["minute"], detail["second"], 0, 0, 0)) * 1000
    assert set_time_command(ms) == raw
    assert set_time_command(ms + 999) == raw  # whole seconds: the device has no finer field


def _check_extended(raw: bytes, detail: dict[str, Any]) -> None:
    built = set_format_extended_command(detail["data_format"], 0x21)
    assert built == set_format_extended_command(detail["data_format"])  # 0x21 is the default
    # Every byte but the checksum as in the vector; the checksum is the sum the vector's detail states
    # (0x70+4+2+7+0x21 mod 256 = 0x9E, as mdpnp's sendSetFormat computes), not the vector's 0xA4: see below.
    assert built[:6] == raw[:6] and built[7:] == raw[7:]
    assert built[6] == (0x70 + detail["len"] + detail["data_type"] + detail["data_format"] + 0x21) & 0xFF


REFERENCE_CHECKS = {
    "Nonin Data Format 2 single frame": _check_df2_frame,
    "Nonin Data Format 2 single frame (bad checksum)": _check_df2_frame,
    "Nonin Data Format 2 single frame (status bit7 clear)": _check_df2_frame,
    "Nonin Format 2/7 STATUS byte": _check_status,
    "Nonin host command: set data format": _check_set_format,
    "Nonin host command: set time": _check_set_time,
    "Nonin host command: extended set format (WristOx2 3150)": _check_extended,
}


@pytest.mark.parametrize("vector", NONIN_REFERENCE, ids=lambda v: f"{v['reference']}:{v['input_hex']}")
def test_reference_vector(vector: dict[str, Any]) -> None:
    REFERENCE_CHECKS[vector["reference"]](bytes.fromhex(vector["input_hex"]), vector["detail"])


def test_extended_vector_checksum_is_miscomputed() -> None:
    # The devices.json vector says "0xA4 = 0x70+4+2+7+0x21 mod 256", but that sum is 0x9E. The same rule gives
    # Isansys' hand-written, device-tested 02 70 04 02 08 21 9F 03 (next test), so the vector is what is wrong.
    vector = next(v for v in NONIN_REFERENCE if "extended" in v["reference"])
    assert bytes.fromhex(vector["input_hex"])[6] == 0xA4 and (0x70 + 4 + 2 + 7 + 0x21) & 0xFF == 0x9E


def _packet(stream: bytes, first: int) -> list[Frame]:
    return [decode_df2_frame(stream[5 * k:5 * k + 5]) for k in range(first, first + PACKET_FRAMES)]


def test_pufferfish_packet_full_decoding() -> None:
    vector = next(v for v in NONIN_PROTOCOL if v["protocol"] == "nonin-df2")
    p = decode_packet(_packet(PUFFERFISH_DF2, 0))
    got = {"hr_bpm": p.hr, "spo2_pct": p.spo2, "firmware_rev": p.firmware_rev, "spo2_d": p.spo2_d,
           "spo2_fast": p.spo2_fast, "spo2_beat_to_beat": p.spo2_beat_to_beat, "e_hr": p.e_hr, "e_spo2": p.e_spo2,
           "e_spo2_d": p.e_spo2_d, "hr_d": p.hr_d, "e_hr_d": p.e_hr_d}
    assert got == vector["detail"]
    assert p.flags() == () and p.timer == 0 and p.pleth == (1,) * 25


def test_onyx_capture_packet() -> None:
    assert all(valid_df2_frame(f) for f in ONYX_DF2_FRAMES)
    frames = _packet(ONYX_DF2, 4)
    assert frames[0].sync and not any(f.sync for f in frames[1:])
    p = decode_packet(frames)
    assert (p.hr, p.spo2, p.firmware_rev, p.timer, p.stat2) == (74, 96, 0x94, 23, 0x04)
    assert (p.spo2_d, p.spo2_fast, p.spo2_beat_to_beat, p.e_hr, p.e_spo2, p.hr_d, p.e_hr_d) == (96, 96, 96, 74, 96,
                                                                                               74, 74)
    assert p.pleth[:3] == (67, 67, 67)
    assert p.flags() == ()  # STAT2 0x04 is not one of the agreed bits


def test_df7_frame_layout_and_framing() -> None:
    raw = ONYX_DF7[20:25]  # the SYNC frame
    assert valid_df7_frame(raw) and df7_header_ok(raw)
    assert decode_df7_frame(raw) == Frame(0x81, 0x4300, 0x00)
    assert not df7_header_ok(b"\x7f\x00\x00\x00\x7f") and not valid_df7_frame(raw[:4] + b"\x00")
    assert decode_packet([decode_df7_frame(ONYX_DF7[5 * k:5 * k + 5]) for k in range(4, 29)]).hr == 74


def test_packet_flags_from_status_and_stat2() -> None:
    frames = [Frame(0x81, 0, 0)] + [Frame(0x80, 0, 0)] * 24
    frames[3] = Frame(0xA2, 0, 0)  # artifact, green
    frames[9] = Frame(0x86, 0, 0x21)  # yellow; FLOAT of frame 10 is SpO2 fast, not STAT2
    frames[7] = Frame(0xC0, 0, 0x21)  # SNSD; STAT2 smart point + low battery
    p = decode_packet(frames)
    assert p.flags() == ("artifact", "perfusion_yellow", "smart_point", "low_battery")
    assert p.flags(snsd=True) == ("artifact", "sensor_disconnect", "perfusion_yellow", "smart_point", "low_battery")
    with pytest.raises(ValueError):
        decode_packet(frames[:24])


def test_nine_bit_pulse_rate_and_missing_values() -> None:
    frames = [Frame(0x81, 0, 0x03), Frame(0x80, 0, 0x7F), Frame(0x80, 0, 0x7F)] + [Frame(0x80, 0, 0)] * 22
    p = decode_packet(frames)
    assert (p.hr, p.spo2) == (511, 127)
    frames[0], frames[1] = Frame(0x81, 0, 0x01), Frame(0x80, 0, 0x2C)  # 128 + 44
    assert decode_packet(frames).hr == 172


def test_df8_decode() -> None:
    f = decode_df8(DF8_72_97)
    assert (f.hr, f.spo2, f.flags) == (72, 97, ())
    f = decode_df8(bytes((0x80 | 0x20 | 0x10 | 0x04 | 0x01, 0x05, 98, 0x29)))
    assert (f.hr, f.spo2) == (133, 98)
    assert f.flags == ("out_of_track", "perfusion_red", "artifact", "smart_point", "sensor_alarm", "low_battery")
    assert decode_df8(bytes((0x83, 0x7F, 0x7F, 0x08))).hr == 511


def test_df13_decode_bcd_and_binary_stamps() -> None:
    r = decode_df13_data(DF13_DATA_BCD)
    assert (r.device_time, r.hr, r.spo2, r.flags) == (DF13_TIME, 72, 97, ("smart_point",))
    binary = bytes((20, 16, 2, 22, 22, 47, 45, 50))
    assert df13_time(binary) == DF13_TIME
    assert df13_time(bytes.fromhex("2016022222474550")) == DF13_TIME
    for bad in ("2016130122474550", "2016022925000000", "1916022222474550", "20160222224745", "2a16022222474550"):
        assert df13_time(bytes.fromhex(bad)) is None, bad
    assert df13_time(bytes.fromhex("2016022900000000")) is not None  # 2016 is a leap year
    nom = decode_df13_data(bytes.fromhex("2016022222474550" "0111" "01ff" "00" "7f"))
    assert nom.flags == ("no_measurement", "from_memory", "low_battery") and (nom.hr, nom.spo2) == (511, 127)
    with pytest.raises(ValueError):
        decode_df13_data(DF13_DATA_BCD[:13])


@pytest.mark.parametrize("fmt", [2, 7, 8, 13])
def test_set_format_for_each_format(fmt: int) -> None:
    assert set_format_command(fmt) == bytes((0x02, 0x70, 0x02, 0x02, fmt, 0x03))
    ext = set_format_extended_command(fmt, 0x61)
    assert ext[:6] == bytes((0x02, 0x70, 0x04, 0x02, fmt, 0x61)) and ext[-1] == 0x03
    assert ext[6] == (0x70 + 4 + 2 + fmt + 0x61) & 0xFF


def test_isansys_extended_format_8_bytes() -> None:
    # Isansys NoninWristOx.setNoninWristOxConfig_DataFormat8: {02 70 04 02 08 21 9F 03} and {... 61 DF 03}.
    assert set_format_extended_command(8, 0x21) == bytes.fromhex("027004020821" "9f03")
    assert set_format_extended_command(8, 0x61) == bytes.fromhex("027004020861" "df03")


@pytest.mark.parametrize("call", [
    lambda: set_format_command(3), lambda: set_format_extended_command(7, 256),
    lambda: set_time_command(calendar.timegm((1999, 12, 31, 23, 59, 59, 0, 0, 0)) * 1000),
    lambda: set_time_command(calendar.timegm((2100, 1, 1, 0, 0, 0, 0, 0, 0)) * 1000),
])
def test_builders_refuse_what_the_device_cannot_hold(call: Any) -> None:
    with pytest.raises(ValueError):
        call()
