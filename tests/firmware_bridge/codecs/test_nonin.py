"""Nonin codecs: public vectors and captures, sync from any offset, damage, missing values, host commands, ACK/NAK."""
from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from firmware_bridge.codecs import codec_for
from firmware_bridge.codecs.base import Codec
from firmware_bridge.codecs.nonin_commands import (
    ACK,
    NAK,
    set_format_command,
    set_format_extended_command,
    set_time_command,
)
from firmware_bridge.codecs.nonin_frames import PACKET_FRAMES, STATUS_SYNC, checksum
from firmware_bridge.errors import CodecError
from firmware_bridge.reading import Reading
from firmware_bridge.simulate.nonin import df2_frame, df7_frame, df8_frame, df13_record, packet_floats
from firmware_bridge.simulate.patient import Vitals
from tests.firmware_bridge.codecs.test_nonin_frames import (
    DF8_72_97,
    DF13_72_97,
    DF13_TIME,
    NONIN_PROTOCOL,
    ONYX_DF2,
    ONYX_DF7,
)

PROTOCOLS = ["nonin-df2", "nonin-df7", "nonin-df8", "nonin-df13"]
FORMAT = {"nonin-df2": 2, "nonin-df7": 7, "nonin-df8": 8, "nonin-df13": 13}
WHEN = datetime(2024, 3, 1, 12, 30, 5, 250_000, tzinfo=UTC)
# Values that differ unit to unit, with a 9-bit pulse (>127) to exercise the MSB.
VITALS = [Vitals(97, 72, 3.0), Vitals(95, 131, 1.0), Vitals(93, 250, 0.3), Vitals(99, 64, 6.0)]


def packet(make: Any, shown: Vitals | None, *, pleth: int = 0x40, status: int = 0, timer: int = 0) -> bytes:
    """A format 2/7 packet; shown None gives the missing values."""
    floats = packet_floats(shown, shown, timer=timer)
    return b"".join(make(status | (STATUS_SYNC if k == 0 else 0), pleth + k, floats[k]) for k in range(PACKET_FRAMES))


def unit(protocol: str, v: Vitals | None) -> bytes:
    """One reading-bearing unit of a protocol: a packet, a frame or a record."""
    off = 0x08 if v is None else 0  # sensor alarm with the missing values, as the simulator sends them
    if protocol == "nonin-df2":
        return packet(df2_frame, v, status=off)
    if protocol == "nonin-df7":
        return packet(df7_frame, v, pleth=0x1234, status=off)
    if protocol == "nonin-df8":
        return df8_frame(v)
    return df13_record(v, WHEN)


def units(protocol: str) -> list[bytes]:
    return [unit(protocol, v) for v in VITALS]


def values(readings: list[Reading]) -> list[tuple[str, float | str | bool]]:
    return [(str(r.metric), r.value) for r in readings]


def expected(vs: list[Vitals]) -> list[tuple[str, float | str | bool]]:
    return [pair for v in vs for pair in (("spo2", v.spo2), ("pulse_rate", v.pulse_rate))]


def decode(protocol: str, data: bytes, **options: Any) -> tuple[list[Reading], Codec]:
    codec = codec_for(protocol, **options)
    return codec.feed(data) + codec.flush(), codec


def close_enough(got: float, want: float) -> bool:
    return abs(got - want) <= max(0.01, abs(want) * 0.001)


@pytest.mark.parametrize("vector", NONIN_PROTOCOL, ids=lambda v: v["protocol"])
def test_public_vector(vector: dict[str, Any]) -> None:
    readings, codec = decode(vector["protocol"], bytes.fromhex(vector["input_hex"]))
    assert len(readings) == len(vector["readings"])
    for r, want in zip(readings, vector["readings"], strict=True):
        assert (str(r.metric), r.unit) == (want["metric"], want["unit"])
        assert close_enough(float(r.value), want["value"]), (r, want)
    assert codec.stats.frames_ok >= 1 and codec.stats.frames_bad == 0 and codec.stats.resyncs == 0
    flags = {k for k, v in vector["detail"].items() if v is True}
    assert all(set(r.flags) >= flags for r in readings)


def test_vectors_cover_json() -> None:
    assert {v["protocol"] for v in NONIN_PROTOCOL} == {"nonin-df2", "nonin-df8"}
    assert json.dumps(NONIN_PROTOCOL)  # plain data


@pytest.mark.parametrize("protocol, data", [("nonin-df2", ONYX_DF2), ("nonin-df7", ONYX_DF7)])
def test_onyx_capture(protocol: str, data: bytes) -> None:
    readings, codec = decode(protocol, data)
    assert values(readings) == [("spo2", 96), ("pulse_rate", 74)]
    assert codec.stats.frames_ok == 30 and codec.stats.frames_bad == 0 and codec.stats.resyncs == 0


def test_df13_record_with_device_time() -> None:
    readings, codec = decode("nonin-df13", DF13_72_97)
    assert values(readings) == [("spo2", 97), ("pulse_rate", 72)]
    assert all(r.device_time == DF13_TIME and r.flags == ("smart_point",) for r in readings)
    assert codec.status == ("smart_point",)


def test_df8_vector_frame_has_no_flags() -> None:
    readings, codec = decode("nonin-df8", DF8_72_97)
    assert values(readings) == [("spo2", 97), ("pulse_rate", 72)] and codec.status == ()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_unit_decodes(protocol: str) -> None:
    readings, codec = decode(protocol, b"".join(units(protocol)))
    assert values(readings) == expected(VITALS)
    assert codec.stats.frames_bad == 0 and codec.stats.resyncs == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sync_from_every_byte_offset(protocol: str) -> None:
    us = units(protocol)
    stream = b"".join(us)
    for k in range(len(us[0]) + 1):
        readings, codec = decode(protocol, stream[k:])
        want = VITALS if k == 0 else VITALS[1:]
        assert values(readings) == expected(want), k
        assert codec.stats.frames_bad == 0, k


GARBAGE = {
    "random": random.Random(7).randbytes(400),
    "zeros": bytes(60),
    "ones": b"\xff" * 60,
    "ascii": b"SPO2=097 HR=072\r\n" * 3,
    "frame-ish": bytes((0x01, 0x81, 0x80, 0x00, 0x02, 0x02, 0x70, 0x00, 0x0D, 0x00, 0x02, 0x00, 0x0D)) * 5,
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("noise", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_then_frames(protocol: str, noise: bytes) -> None:
    us = units(protocol)
    codec = codec_for(protocol)
    readings = codec.feed(noise + b"".join(us)) + codec.flush()
    assert values(readings)[-6:] == expected(VITALS[1:])
    assert codec.stats.resyncs >= 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_cut_unit_then_frames(protocol: str) -> None:
    us = units(protocol)
    for cut in range(1, len(us[0])):
        readings, _ = decode(protocol, us[0][:cut] + b"".join(us[1:]))
        assert values(readings) == expected(VITALS[1:]), cut


@pytest.mark.parametrize("protocol, at", [("nonin-df2", 54), ("nonin-df7", 54), ("nonin-df13", 20)])
def test_bad_checksum_is_counted_and_the_next_unit_decodes(protocol: str, at: int) -> None:
    us = units(protocol)
    broken = bytearray(us[1])
    broken[at] ^= 0x01  # a checksum byte (format 2/7: frame 11's; format 13: the record's)
    readings, codec = decode(protocol, us[0] + bytes(broken) + us[2])
    assert values(readings) == expected([VITALS[0], VITALS[2]])
    assert codec.stats.frames_bad == 1 and codec.stats.resyncs == 1


def test_df8_broken_framing_is_counted() -> None:
    us = units("nonin-df8")
    broken = bytes((us[2][0], us[2][1] | 0x80, *us[2][2:]))  # HR LSB with bit 7 set: no format 8 frame
    readings, codec = decode("nonin-df8", us[0] + us[1] + broken + us[3] + us[0])
    assert values(readings) == expected([VITALS[0], VITALS[1], VITALS[3], VITALS[0]])
    assert codec.stats.frames_bad == 1 and codec.stats.resyncs == 1


def test_df13_bad_length_and_etx_are_counted() -> None:
    good = units("nonin-df13")
    bad_len = DF13_72_97[:4] + b"\x00\x05" + DF13_72_97[6:]
    bad_etx = DF13_72_97[:-1] + b"\x04"
    readings, codec = decode("nonin-df13", bad_len + bad_etx + good[0])
    assert values(readings) == expected(VITALS[:1]) and codec.stats.frames_bad == 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_missing_values_give_no_readings_but_a_status(protocol: str) -> None:
    codec = codec_for(protocol)
    stream = unit(protocol, VITALS[0]) + unit(protocol, None) + unit(protocol, VITALS[1])
    readings = codec.feed(stream[:-len(unit(protocol, VITALS[1]))])
    readings += codec.flush()
    assert values(readings) == expected(VITALS[:1])
    want = {"nonin-df13": ("no_measurement",)}.get(protocol, ("sensor_alarm",))
    assert codec.status == want


def test_one_missing_value_leaves_the_other() -> None:
    floats = packet_floats(Vitals(97, 72, 3.0), None, timer=0)
    floats[2] = 127  # SpO2 missing, pulse present
    data = b"".join(df2_frame(STATUS_SYNC if k == 0 else 0, 9, f) for k, f in enumerate(floats))
    assert values(decode("nonin-df2", data)[0]) == [("pulse_rate", 72)]
    floats[2], floats[0], floats[1] = 110, 0x03, 0x60  # SpO2 above 100, pulse 480: nothing is possible
    data = b"".join(df2_frame(STATUS_SYNC if k == 0 else 0, 9, f) for k, f in enumerate(floats))
    readings, codec = decode("nonin-df2", data)
    assert readings == [] and codec.stats.frames_ok == 25


def test_packet_flags_reach_readings_and_status() -> None:
    data = packet(df2_frame, Vitals(97, 72, 3.0), status=0x20 | 0x02)  # artifact, green, every frame
    readings, codec = decode("nonin-df2", data)
    assert all(r.flags == ("artifact", "perfusion_green") for r in readings)
    assert codec.status == ("artifact", "perfusion_green")
    data = packet(df2_frame, Vitals(97, 72, 3.0), status=0x40)
    assert decode("nonin-df2", data)[1].status == ("sensor_disconnect",)
    assert decode("nonin-df7", packet(df7_frame, Vitals(97, 72, 3.0), status=0x40))[1].status == ()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_byte_by_byte_equals_whole(protocol: str) -> None:
    us = units(protocol)
    stream = GARBAGE["random"][:90] + us[0] + us[1][:7] + us[2] + bytes((ACK,)) + us[3] + b"\x00\x02"
    whole = codec_for(protocol)
    expected_readings = whole.feed(stream)
    single = codec_for(protocol)
    got = [r for i in range(len(stream)) for r in single.feed(stream[i:i + 1])]
    assert got == expected_readings
    assert single.stats == whole.stats and single.status == whole.status
    assert single.flush() == whole.flush()


def test_df8_hunting_waits_for_the_next_status_byte_or_flush() -> None:
    codec = codec_for("nonin-df8")
    assert codec.feed(DF8_72_97) == []  # no checksum: a first frame waits for the next to confirm it
    assert values(codec.feed(DF8_72_97[:3])) == []
    assert values(codec.feed(DF8_72_97[3:])) == expected([Vitals(97, 72, 0)] * 2)
    assert values(codec.feed(DF8_72_97)) == expected([Vitals(97, 72, 0)])  # locked: at once
    assert codec.flush() == []
    codec = codec_for("nonin-df8")
    assert codec.feed(DF8_72_97) == []
    assert values(codec.flush()) == expected([Vitals(97, 72, 0)])  # end of input: nothing more to wait for
    assert codec.flush() == []


# -- host commands and replies --------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_on_connect_bytes(protocol: str) -> None:
    fmt = FORMAT[protocol]
    clock = int(WHEN.timestamp() * 1000)
    assert codec_for(protocol).on_connect() == b""
    assert codec_for(protocol, set_format=True).on_connect() == set_format_command(fmt)
    assert codec_for(protocol, set_format=True, format_options=0x61).on_connect() == \
        set_format_extended_command(fmt, 0x61)
    assert codec_for(protocol, set_clock_ms=clock).on_connect() == set_time_command(clock)
    both = codec_for(protocol, set_format=True, set_clock_ms=clock).on_connect()
    assert both == set_format_command(fmt) + bytes.fromhex("027206180301" "0c1e0503")


@pytest.mark.parametrize("options", [{"set_clock_ms": 4_200_000_000_000}, {"set_format": True, "format_options": 300}])
def test_options_the_device_cannot_take_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(CodecError):
        codec_for("nonin-df7", **options)


def connected(protocol: str, **options: Any) -> Codec:
    codec = codec_for(protocol, set_format=True, **options)
    codec.on_connect()
    return codec


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ack_before_frames(protocol: str) -> None:
    codec = connected(protocol)
    readings = codec.feed(bytes((ACK,)) + b"".join(units(protocol))) + codec.flush()
    assert values(readings) == expected(VITALS)
    assert codec.status[-1] == "format_accepted"
    assert codec.stats.resyncs == 0 and codec.stats.frames_bad == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ack_among_frames(protocol: str) -> None:
    us = units(protocol)
    codec = connected(protocol)
    readings = codec.feed(us[0] + us[1] + bytes((ACK,)) + us[2] + us[3]) + codec.flush()
    assert values(readings) == expected(VITALS)
    assert codec.status[-1] == "format_accepted" and codec.stats.resyncs == 0


FOREIGN = {"nonin-df2": ONYX_DF7, "nonin-df7": ONYX_DF2, "nonin-df8": ONYX_DF7, "nonin-df13": ONYX_DF2}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_nak_amid_the_old_format(protocol: str) -> None:
    # The device refuses and goes on in the format it had: the NAK sits between two of its frames.
    codec = connected(protocol)
    old = FOREIGN[protocol]
    assert codec.feed(old[:50] + bytes((NAK,)) + old[50:]) + codec.flush() == []
    assert codec.status == ("format_rejected",)


def test_reply_flags_stay_after_frame_flags() -> None:
    codec = connected("nonin-df8")
    codec.feed(bytes((NAK,)) + unit("nonin-df8", None) + unit("nonin-df8", None))
    assert codec.status == ("sensor_alarm", "format_rejected")


def test_two_commands_two_replies_in_order() -> None:
    codec = connected("nonin-df7", set_clock_ms=int(WHEN.timestamp() * 1000))
    readings = codec.feed(bytes((ACK, NAK)) + b"".join(units("nonin-df7")))
    assert values(readings) == expected(VITALS)
    assert codec.status[-2:] == ("format_accepted", "clock_rejected")


def test_reply_split_from_what_follows_it() -> None:
    codec = connected("nonin-df2")
    assert codec.feed(bytes((ACK,))) == [] and not codec.status  # cannot tell yet: nothing follows
    assert values(codec.feed(b"".join(units("nonin-df2")))) == expected(VITALS)
    assert codec.status[-1] == "format_accepted"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ack_without_a_command_is_garbage(protocol: str) -> None:
    codec = codec_for(protocol)
    codec.on_connect()
    readings = codec.feed(bytes((ACK,)) + b"".join(units(protocol))) + codec.flush()
    assert values(readings) == expected(VITALS)
    assert "format_accepted" not in codec.status and codec.stats.resyncs == 1


def test_reply_byte_inside_noise_is_not_a_reply() -> None:
    codec = connected("nonin-df7")
    noise = bytes((0x33, 0x06, 0x44, 0x15, 0x00, 0x01, 0x06, 0x02, 0x7F, 0x10, 0x11, 0x12))
    codec.feed(noise + b"".join(units("nonin-df7")))
    assert "format_accepted" not in codec.status and "format_rejected" not in codec.status


def test_first_byte_ack_needs_something_real_after_it() -> None:
    codec = connected("nonin-df7")
    codec.feed(bytes((ACK, 0x10, 0x20, 0x30, 0x40, 0x50)))
    assert codec.status == ()
    codec = connected("nonin-df13")
    codec.feed(bytes((ACK,)) + DF13_72_97)
    assert codec.status == ("smart_point", "format_accepted")


def test_df13_record_checksum_covers_only_data() -> None:
    data = DF13_72_97[6:-2]
    assert DF13_72_97[-2] == checksum(data) and DF13_72_97[-1] == 0x03
