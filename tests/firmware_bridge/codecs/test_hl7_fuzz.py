"""Property tests: no input makes Hl7OruCodec raise, and good frames after any damage still decode."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.codecs.base import CodecStats
from firmware_bridge.codecs.hl7_mllp import MllpDeframer, frame
from firmware_bridge.codecs.hl7_oru import Hl7OruCodec
from firmware_bridge.metrics import METRICS
from firmware_bridge.reading import Reading

# GE B40 HL7 Reference Manual 2062665-001 G p.15 OBX rows (and p.19 MSH), line wraps rejoined.
GE = frame(b"MSH|^~\\&|B40_GE|GE|||20200101120000||ORU^R01^ORU_R01|1|P|2.6\r"
           b"OBX|11|NM|147842^MDC_ECG_HEART_RATE^MDC|1.5.1.1|80|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r"
           b"OBX|4|NM|150033^MDC_PRESS_BLD_ART_SYS^MDC|1.13.1.1|112|266016^MDC_DIM_MMHG^MDC|||||R\r")
# Philips Efficia CM Series Data Export Guide p.3-10 (ORF^R04 with MDIL codes), first OBX rows.
EFFICIA = frame(b"MSH|^~\\&|^EfficiaCM||||20140510124500||ORF^R04|MONITORABC000000002D|P|2.4\r"
                b"OBX||NM|0002-4bb8^SpO2^MDIL||98|0004-0220^%^MDIL|||||F\r"
                b"OBX||NM|0002-4a05^NBPs^MDIL||122|0004-0f20^mmHg^MDIL|||||F|||20140510124430\r")
GOOD = [GE, EFFICIA]

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
good = st.sampled_from(GOOD)
# Mostly binary noise, sometimes noise from the protocol's own alphabet, framing bytes included.
garbage = st.one_of(
    st.binary(max_size=1500),
    st.text(alphabet="MSHOBX|^~\\&0123456789.-\r\n\x0b\x1c", max_size=400).map(str.encode),
)


def pairs(readings: list[Reading]) -> list[tuple[str, object]]:
    return [(str(r.metric), r.value) for r in readings]


def reference(frame_bytes: bytes) -> list[Reading]:
    return Hl7OruCodec().feed(frame_bytes)


def feed_in_chunks(codec: Hl7OruCodec, data: bytes, cuts: list[int]) -> list[Reading]:
    out: list[Reading] = []
    start = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        out += codec.feed(data[start:cut])
        start = max(start, cut)
    return out


def sane(readings: list[Reading]) -> None:
    for r in readings:  # whatever noise decodes to, it is never an impossible value
        info = METRICS[r.metric]
        assert info.low is not None and info.high is not None
        assert info.low <= float(r.value) <= info.high


def acks_are_framed(output: bytes) -> None:
    stats = CodecStats()
    frames = MllpDeframer(stats).feed(output)
    assert stats.resyncs == 0 and stats.frames_bad == 0
    # An ACK speaks the sender's delimiters, which a damaged header may have changed.
    assert all(f.payload.startswith(b"MSH") and b"\rMSA" in f.payload for f in frames)


@FUZZ
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_random_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    codec = Hl7OruCodec()
    sane(feed_in_chunks(codec, data, cuts) + codec.flush())
    assert codec.stats.bytes_in == len(data)
    acks_are_framed(codec.take_output())


@FUZZ
@given(noise=garbage, message=good, cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_good_frame_after_garbage_decodes(noise: bytes, message: bytes, cuts: list[int]) -> None:
    codec = Hl7OruCodec()
    readings = feed_in_chunks(codec, noise + message, cuts)
    want = pairs(reference(message))
    assert pairs(readings)[-len(want):] == want
    acks_are_framed(codec.take_output())


@FUZZ
@given(message=good, end=st.integers(min_value=0, max_value=400))
def test_truncated_frames_say_nothing_the_frame_did_not(message: bytes, end: int) -> None:
    codec = Hl7OruCodec()
    readings = codec.feed(message[:end]) + codec.flush()
    assert set(pairs(readings)) <= set(pairs(reference(message)))
    assert pairs(codec.feed(GE)) == pairs(reference(GE))


@FUZZ
@given(message=good,
       flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), min_size=1, max_size=4))
def test_bit_flips_never_raise_and_the_next_frame_decodes(message: bytes,
                                                          flips: list[tuple[int, int]]) -> None:
    damaged = bytearray(message)
    for pos, bit in flips:
        damaged[pos % len(damaged)] ^= 1 << bit
    codec = Hl7OruCodec()
    sane(codec.feed(bytes(damaged)))
    # A flipped end byte leaves the damaged frame open; the next start byte closes it as lost.
    assert pairs(codec.feed(EFFICIA)) == pairs(reference(EFFICIA))
    acks_are_framed(codec.take_output())


@FUZZ
@given(fields=st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x0b\x1c"),
                               max_size=30), max_size=20))
def test_well_framed_nonsense_messages_never_raise(fields: list[str]) -> None:
    codec = Hl7OruCodec()
    body = "MSH|^~\\&|" + "|".join(fields[:12]) + "\rOBX|" + "|".join(fields[12:])
    sane(codec.feed(frame(body.encode())))
    assert codec.stats.frames_ok + codec.stats.frames_bad == 1
    acks_are_framed(codec.take_output())
