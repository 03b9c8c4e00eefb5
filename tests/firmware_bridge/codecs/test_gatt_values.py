"""GATT values the review found misread: RR flags with no RR bytes, float noise, PLX layouts that collide."""
from __future__ import annotations

import pytest

from firmware_bridge.codecs import codec_for

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
