"""Property tests: no input makes MasimoAsciiCodec raise, and good lines after any damage still decode."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.codecs.masimo_ascii import MasimoAsciiCodec
from firmware_bridge.metrics import METRICS
from firmware_bridge.reading import Reading

# Real Rad-8 capture, ASCII 1 (yahnatan/pulseox README.md).
RAD8 = b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n"
# Radical-5 example (mdpnp/mdpnp other/pox_rad/src/poxrad_discrete.h).
RAD5 = b"09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800\r\n"
GOOD_LINES = [RAD8, RAD5]

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
line = st.sampled_from(GOOD_LINES)
# Mostly binary noise, sometimes noise built from the protocol's own characters (much nastier).
garbage = st.one_of(
    st.binary(max_size=1500),
    st.text(alphabet="0123456789/:=%.-+ SPOBMIAXCNR\r\n", max_size=400).map(str.encode),
)


def pairs(readings: list[Reading]) -> set[tuple[str, object]]:
    return {(str(r.metric), r.value) for r in readings}


def reference(good: bytes) -> list[Reading]:
    return MasimoAsciiCodec().feed(good)


def feed_in_chunks(codec: MasimoAsciiCodec, data: bytes, cuts: list[int]) -> list[Reading]:
    out: list[Reading] = []
    start = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        out += codec.feed(data[start:cut])
        start = max(start, cut)
    return out


@FUZZ
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_random_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    codec = MasimoAsciiCodec()
    readings = feed_in_chunks(codec, data, cuts) + codec.flush()
    assert codec.stats.bytes_in == len(data)
    for r in readings:  # whatever noise decodes to, it is never an impossible value
        info = METRICS[r.metric]
        assert info.low is not None and info.high is not None
        assert info.low <= float(r.value) <= info.high


@FUZZ
@given(noise=garbage, good=line, cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_good_line_after_garbage_and_a_line_end_decodes(noise: bytes, good: bytes, cuts: list[int]) -> None:
    codec = MasimoAsciiCodec()
    readings = feed_in_chunks(codec, noise + b"\r\n" + good, cuts)
    assert readings[-3:] == reference(good)


@FUZZ
@given(noise=garbage, good=line)
def test_second_good_line_after_glued_garbage_decodes(noise: bytes, good: bytes) -> None:
    codec = MasimoAsciiCodec()
    readings = codec.feed(noise + good + good)
    assert readings[-3:] == reference(good)


@FUZZ
@given(good=line, start=st.integers(min_value=0, max_value=200), end=st.integers(min_value=0, max_value=200))
def test_any_piece_of_a_line_says_nothing_the_line_did_not(good: bytes, start: int, end: int) -> None:
    codec = MasimoAsciiCodec()
    piece = good.rstrip()[start:end]
    readings = codec.feed(piece + b"\r\n")
    assert pairs(readings) <= pairs(reference(good))
    assert codec.feed(RAD5) == reference(RAD5)


@FUZZ
@given(good=line, flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), min_size=1, max_size=4))
def test_bit_flips_never_raise_and_the_next_line_decodes(good: bytes, flips: list[tuple[int, int]]) -> None:
    damaged = bytearray(good)
    for pos, bit in flips:
        damaged[pos % len(damaged)] ^= 1 << bit
    codec = MasimoAsciiCodec()
    codec.feed(bytes(damaged))
    # A flipped line end can leave the damaged line unterminated; the next line end then closes it.
    assert codec.feed(b"\r\n" + RAD5) == reference(RAD5)
    assert codec.stats.frames_ok + codec.stats.frames_bad >= 1
