"""Nonin data format 8 STATUS bit 6 (sensor disconnected) and STAT2 bit 1 (critical battery)."""
from __future__ import annotations

import pytest

from firmware_bridge.codecs import codec_for
from firmware_bridge.codecs.nonin_frames import decode_df8
from firmware_bridge.flags import INFORMATIONAL, UNRELIABLE, is_unreliable


def df8(status: int = 0, stat2: int = 0, hr: int = 72, spo2: int = 97) -> bytes:
    return bytes((0x80 | status | (hr >> 7), hr & 0x7F, spo2, stat2))


def decode(data: bytes) -> tuple[list, object]:
    codec = codec_for("nonin-df8")
    return codec.feed(data) + codec.flush(), codec


@pytest.mark.parametrize("other", [0x00, 0x04, 0x10, 0x20])
def test_sensor_disconnected_flags_every_value_unreliable(other: int) -> None:
    readings, codec = decode(df8(0x40 | other) * 3)
    assert [r.value for r in readings] == [97, 72] * 3
    assert all("sensor_disconnected" in r.flags and is_unreliable(r.flags) for r in readings)
    assert "sensor_disconnected" in codec.status  # type: ignore[attr-defined]


def test_critical_battery_is_shown_and_leaves_the_value_usable() -> None:
    readings, codec = decode(df8(stat2=0x02) * 2)
    assert [r.value for r in readings] == [97, 72] * 2
    assert all(r.flags == ("critical_battery",) for r in readings)
    assert codec.status == ("critical_battery",)  # type: ignore[attr-defined]
    assert "critical_battery" in INFORMATIONAL and not is_unreliable(("critical_battery",))


def test_both_bits_with_the_others() -> None:
    flags = decode_df8(df8(0x40 | 0x20, 0x02 | 0x01 | 0x08)).flags
    assert set(flags) == {"sensor_disconnected", "out_of_track", "critical_battery", "low_battery", "sensor_alarm"}
    assert "sensor_disconnected" in UNRELIABLE


def test_a_missing_value_frame_with_the_sensor_off_gives_status_only() -> None:
    readings, codec = decode(df8(0x40, hr=511, spo2=127) * 2)
    assert readings == [] and codec.status == ("sensor_disconnected",)  # type: ignore[attr-defined]
