"""Property tests per GATT codec: random values, truncation and bit flips never raise and never read impossible."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.codecs import codec_for
from firmware_bridge.codecs.gatt_base import frame
from firmware_bridge.codecs.ieee11073 import Special
from firmware_bridge.metrics import METRICS
from firmware_bridge.reading import Reading

FUZZ = settings(max_examples=int(os.environ.get("GATT_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
# A good value of each characteristic (the shared vectors) to truncate and flip bits in.
GOOD: dict[str, list[tuple[int, str]]] = {
    "gatt-heart-rate": [(0x2A37, "0055"), (0x2A37, "1e5532002100")],
    "gatt-plx": [(0x2A5F, "1c5f005a00200000000057f0"), (0x2A5E, "0facf3bef5e8070b1d170839204022000066e3")],
    "gatt-blood-pressure": [(0x2A35, "1e8a00580078000000041114293b3c00012700")],
    "gatt-temperature": [(0x2A1C, "06b00e00fedc070c050b321b04")],
    "gatt-glucose": [(0x2A18, "1b0100e307021b0b0a1efbff1e00120501")],
}
PROTOCOLS = list(GOOD)


def sane(readings: list[Reading]) -> None:
    for r in readings:
        assert isinstance(r.value, (int, float)) and not isinstance(r.value, (bool, Special))
        info = METRICS[r.metric]
        assert info.low is not None and info.high is not None
        assert info.low <= r.value <= info.high, r
        assert all(isinstance(f, str) for f in r.flags)


@pytest.mark.parametrize("p", PROTOCOLS)
@FUZZ
@given(value=st.binary(max_size=40))
def test_random_values_never_raise(p: str, value: bytes) -> None:
    codec = codec_for(p)
    readings = codec.feed(value) + codec.flush()
    sane(readings)
    assert codec.stats.frames_ok + codec.stats.frames_bad == 1


@pytest.mark.parametrize("p", PROTOCOLS)
@FUZZ
@given(data=st.data())
def test_truncated_and_bit_flipped_good_values(p: str, data: st.DataObject) -> None:
    uuid16, hex_ = data.draw(st.sampled_from(GOOD[p]))
    value = bytearray.fromhex(hex_)
    for bit in data.draw(st.lists(st.integers(0, len(value) * 8 - 1), max_size=4)):
        value[bit // 8] ^= 1 << (bit % 8)
    cut = data.draw(st.integers(0, len(value)))
    sane(codec_for(p).feed(bytes(value[:cut])))
    framed = codec_for(p, framed=True)
    sane(framed.feed(frame(uuid16, bytes(value[:cut]))))
    assert framed.stats.frames_ok + framed.stats.frames_bad == 1


@pytest.mark.parametrize("p", PROTOCOLS)
@FUZZ
@given(stream=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=8))
def test_random_framed_stream_never_raises(p: str, stream: bytes, cuts: list[int]) -> None:
    codec = codec_for(p, framed=True)
    out: list[Reading] = []
    start = 0
    for cut in sorted(c % (len(stream) + 1) for c in cuts) + [len(stream)]:
        out += codec.feed(stream[start:cut])
        start = max(start, cut)
    sane(out + codec.flush())
    assert codec.stats.bytes_in == len(stream)
