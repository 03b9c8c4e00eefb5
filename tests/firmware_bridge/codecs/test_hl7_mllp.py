"""MLLP framing (any split, noise, lost ends, over-long frames) and the ER7 parser underneath the codec."""
from __future__ import annotations

import pytest

from firmware_bridge.codecs.base import CodecStats
from firmware_bridge.codecs.hl7_er7 import (
    Delimiters,
    Hl7SyntaxError,
    parse_message,
    read_delimiters,
    salvage_header,
    unescape,
)
from firmware_bridge.codecs.hl7_mllp import HEAD_KEPT, MAX_FRAME, MllpDeframer, frame
from firmware_bridge.codecs.hl7_oru import Hl7OruCodec

# Philips Efficia CM Series Data Export Guide p.3-10: the ORF example's MSH and first OBX.
EFFICIA = (b"MSH|^~\\&|^EfficiaCM||||20140510124500||ORF^R04|MONITORABC000000002D|P|2.4|||||||||"
           b"2.16.840.1.113883.9.2.1\rOBX||NM|0002-4bb8^SpO2^MDIL||98|0004-0220^%^MDIL|||||F\r")
# GE B40 HL7 Reference Manual 2062665-001 G p.15: one PCD-01 OBX row, under a minimal MSH (added here).
GE_HR = (b"MSH|^~\\&|B40_GE|GE|||20200101120000||ORU^R01^ORU_R01|1|P|2.6\r"
         b"OBX|11|NM|147842^MDC_ECG_HEART_RATE^MDC|1.5.1.1|80|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||||||"
         b"080019FFFE0B4020^B40_GE\r")
TWO = frame(EFFICIA) + frame(GE_HR)


def deframe(data: bytes, cuts: list[int] | None = None) -> tuple[list[bytes], CodecStats]:
    stats = CodecStats()
    d = MllpDeframer(stats)
    out: list[bytes] = []
    start = 0
    for cut in (cuts or []) + [len(data)]:
        out += [f.payload for f in d.feed(data[start:cut])]
        start = cut
    return out, stats


def test_two_frames_in_one_read() -> None:
    assert deframe(TWO) == ([EFFICIA, GE_HR], CodecStats())


@pytest.mark.parametrize("cut", range(1, len(TWO)))
def test_split_at_every_byte(cut: int) -> None:
    frames, stats = deframe(TWO, [cut])
    assert frames == [EFFICIA, GE_HR] and stats == CodecStats()


def test_one_byte_at_a_time_through_the_codec() -> None:
    codec = Hl7OruCodec()
    readings = [r for b in TWO for r in codec.feed(bytes([b]))]
    assert [(str(r.metric), r.value) for r in readings] == [("spo2", 98), ("heart_rate", 80)]
    assert codec.take_output().count(b"MSA|AA|") == 2


def test_garbage_between_frames_is_skipped_and_counted() -> None:
    noisy = b"\x00\xffnoise\x1c\r" + frame(EFFICIA) + b"\r\n more noise " + frame(GE_HR) + b"\r\n"
    frames, stats = deframe(noisy)
    assert frames == [EFFICIA, GE_HR]
    assert stats.resyncs == 2 and stats.frames_bad == 0


def test_a_lost_end_is_recovered_at_the_next_start() -> None:
    frames, stats = deframe(b"\x0bMSH|^~\\&|cut off here" + frame(GE_HR))
    assert frames == [GE_HR] and stats.frames_bad == 1 and stats.resyncs == 1


def test_fs_without_cr_still_ends_a_frame() -> None:
    frames, _ = deframe(b"\x0b" + EFFICIA + b"\x1c" + b"\x0b" + GE_HR + b"\x1c")
    assert frames == [EFFICIA, GE_HR]


def test_an_over_long_frame_keeps_only_its_head_and_is_rejected() -> None:
    huge = GE_HR + b"OBX|1|ST|x||" + b"y" * (MAX_FRAME + 10) + b"\r"
    stats = CodecStats()
    d = MllpDeframer(stats)
    frames = d.feed(frame(huge)[:1000]) + d.feed(frame(huge)[1000:]) + d.feed(frame(GE_HR))
    assert [(len(f.payload), f.complete) for f in frames] == [(HEAD_KEPT, False), (len(GE_HR), True)]
    codec = Hl7OruCodec()
    assert [str(r.metric) for r in codec.feed(frame(huge) + frame(GE_HR))] == ["heart_rate"]
    assert codec.take_output().count(b"MSA|AR|1|message longer than") == 1
    assert codec.stats.frames_bad == 1


def test_flush_gives_an_unterminated_frame_or_a_bare_capture() -> None:
    d = MllpDeframer(CodecStats())
    assert d.feed(b"\x0b" + GE_HR) == [] and d.flush() == [GE_HR]
    # Cut short inside a frame: only whole segments are kept (the cut one could read "98" as "9").
    assert d.feed(b"\x0b" + GE_HR[:-5]) == [] and d.flush() == [GE_HR[:GE_HR.index(b"\r") + 1]]
    assert d.feed(b"\x0bMSH|^~\\&|cut") == [] and d.flush() == []
    assert d.feed(EFFICIA) == [] and d.flush() == [EFFICIA]
    assert d.flush() == []
    codec = Hl7OruCodec()  # two bare messages pasted together, as `edge-app decode --text` gets them
    assert len(codec.feed(EFFICIA + GE_HR) + codec.flush()) == 2


def test_delimiters_are_read_from_msh() -> None:
    assert read_delimiters("MSH|^~\\&|A") == Delimiters()
    assert read_delimiters("MSH#$%@*#A") == Delimiters("#", "$", "%", "@", "*")
    assert read_delimiters("MSH|^~\\&#|A") == Delimiters()  # v2.7 truncation character is ignored
    assert read_delimiters("MSH|^|A") == Delimiters()  # old senders may give fewer than four


@pytest.mark.parametrize("text", ["", "MSH", "MSH|", "MSH||", "MSH|^^~\\&|", "MSH|a~\\&|", "MSH|^~\\\r&",
                                  "PID|^~\\&|", "MSH\r|^~\\&|", "MSH|^~|&", "MSH|~^\\&|"])
def test_bad_headers_raise_only_hl7_syntax_error(text: str) -> None:
    try:
        parse_message(text + "\rOBX|1")
    except Hl7SyntaxError:
        pass


def test_parser_rejects_bad_segment_names_and_a_second_msh() -> None:
    with pytest.raises(Hl7SyntaxError, match="bad segment name"):
        parse_message("MSH|^~\\&|A\robx|1")
    with pytest.raises(Hl7SyntaxError, match="second MSH"):
        parse_message("MSH|^~\\&|A\rMSH|^~\\&|B")


def test_fields_components_and_repetitions() -> None:
    m = parse_message("MSH|^~\\&|APP^FAC|X\r\nOBX|1|NM|150456^SpO2^MDC~alt|1|97|%^pct\\T\\x||H~DEMO\n\n")
    msh, obx = m.segments
    assert msh.raw(1) == "|" and msh.raw(2) == "^~\\&" and msh.component(3, 2) == "FAC" and msh.raw(4) == "X"
    assert obx.components(3) == ["150456", "SpO2", "MDC"]  # the first repetition only
    assert obx.component(6, 2) == "pct&x" and obx.repetitions(8) == ["H", "DEMO"]
    assert obx.raw(99) == "" and obx.component(3, 9) == "" and obx.repetitions(9) == []


@pytest.mark.parametrize("text, want", [
    ("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", "a|b^c&d~e\\f"), ("\\X41420D\\", "AB\r"), ("\\H\\bold\\N\\", "bold"),
    ("dangling\\F", "dangling\\F"), ("\\Xzz\\", ""), ("plain", "plain"),
])
def test_unescape(text: str, want: str) -> None:
    assert unescape(text, Delimiters()) == want


def test_escape_text_round_trips() -> None:
    d = Delimiters()
    text = "Incorrect patient|id^x&y~z\\w\rline"
    assert unescape(d.escape_text(text), d) == text.replace("\r", " ")


def test_salvage_header_addresses_an_ack_for_a_damaged_message() -> None:
    msh = salvage_header("MSH|^~\\&|MON|WARD|||20240301||ORU^R01|ID9|P|2.6\rOB\x00X")
    assert msh is not None and msh.raw(10) == "ID9" and msh.raw(3) == "MON"
    bad = salvage_header("MSH|aa|MON||||x||ORU^R01|ID8")
    assert bad is not None and bad.raw(10) == "ID8"
    assert salvage_header("garbage") is None and salvage_header("MSH") is None
