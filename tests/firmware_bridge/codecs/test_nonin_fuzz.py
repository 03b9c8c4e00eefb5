"""Property tests per Nonin format: nothing raises, noise never reads as an impossible value, good units survive."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.codecs import codec_for
from firmware_bridge.codecs.base import Codec
from firmware_bridge.codecs.nonin_commands import ACK, NAK
from firmware_bridge.metrics import METRICS
from firmware_bridge.reading import Reading
from tests.firmware_bridge.codecs.test_nonin import PROTOCOLS, VITALS, expected, units, values

# NONIN_FUZZ_EXAMPLES=2000 for a deeper run by hand; the default keeps the suite quick.
FUZZ = settings(max_examples=int(os.environ.get("NONIN_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
# Plain noise, and noise made of the bytes Nonin framing looks for (much nastier).
garbage = st.one_of(
    st.binary(max_size=600),
    st.lists(st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x06, 0x0D, 0x15, 0x7F, 0x80, 0x81, 0x83, 0xFF]),
             max_size=300).map(bytes),
)
cuts = st.lists(st.integers(min_value=0), max_size=12)


def feed_in_chunks(codec: Codec, data: bytes, where: list[int]) -> list[Reading]:
    out: list[Reading] = []
    start = 0
    for cut in sorted(c % (len(data) + 1) for c in where) + [len(data)]:
        out += codec.feed(data[start:cut])
        start = max(start, cut)
    return out


def possible(readings: list[Reading]) -> bool:
    for r in readings:
        info = METRICS[r.metric]
        assert info.low is not None and info.high is not None
        if not info.low <= float(r.value) <= info.high:
            return False
    return True


@pytest.mark.parametrize("p", PROTOCOLS)
@FUZZ
@given(data=st.binary(max_size=2000), where=cuts, commands=st.booleans())
def test_random_bytes_never_raise(p: str, data: bytes, where: list[int], commands: bool) -> None:
    codec = codec_for(p, set_format=commands, set_clock_ms=1_700_000_000_000 if commands else None)
    codec.on_connect()
    readings = feed_in_chunks(codec, data, where) + codec.flush()
    assert codec.stats.bytes_in == len(data)
    assert possible(readings)
    assert all(isinstance(flag, str) for flag in codec.status)


@pytest.mark.parametrize("p", PROTOCOLS)
@FUZZ
@given(noise=garbage, where=cuts)
def test_good_units_after_garbage_decode(p: str, noise: bytes, where: list[int]) -> None:
    codec = codec_for(p)
    readings = feed_in_chunks(codec, noise + b"".join(units(p)), where) + codec.flush()
    # Noise can hide at most the first unit after it (its tail may pose as a frame start).
    assert values(readings)[-4:] == expected(VITALS[2:])


@pytest.mark.parametrize("p", PROTOCOLS)
@FUZZ
@given(noise=garbage, reply=st.sampled_from([ACK, NAK]))
def test_reply_after_garbage_never_stops_decoding(p: str, noise: bytes, reply: int) -> None:
    codec = codec_for(p, set_format=True)
    codec.on_connect()
    readings = codec.feed(noise + bytes((reply,)) + b"".join(units(p))) + codec.flush()
    assert values(readings)[-4:] == expected(VITALS[2:])
    assert set(codec.status) <= {"format_accepted", "format_rejected", "smart_point", "perfusion_green",
                                 "perfusion_yellow", "perfusion_red"}


@pytest.mark.parametrize("p", PROTOCOLS)
@FUZZ
@given(start=st.integers(min_value=0, max_value=600), end=st.integers(min_value=0, max_value=600))
def test_any_piece_says_nothing_the_stream_did_not(p: str, start: int, end: int) -> None:
    stream = b"".join(units(p))
    codec = codec_for(p)
    readings = codec.feed(stream[start:end]) + codec.flush()
    assert set(values(readings)) <= set(expected(VITALS))


@pytest.mark.parametrize("p", PROTOCOLS)
@FUZZ
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), min_size=1, max_size=4))
def test_bit_flips_never_raise_and_later_units_decode(p: str, flips: list[tuple[int, int]]) -> None:
    us = units(p)
    damaged = bytearray(us[0] + us[1])
    for pos, bit in flips:
        damaged[pos % len(damaged)] ^= 1 << bit
    codec = codec_for(p)
    readings = codec.feed(bytes(damaged) + b"".join(us[2:]) + us[0] + us[1]) + codec.flush()
    assert possible(readings)
    # Format 8 has no checksum: a flip can pass as other values, but the frames after the damage decode.
    assert values(readings)[-4:] == expected(VITALS[:2])
