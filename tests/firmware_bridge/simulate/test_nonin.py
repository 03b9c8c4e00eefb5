"""Simulated Nonin output is real: it matches the public captures byte for byte and round-trips through the codecs."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import serial  # type: ignore[import-untyped]

from firmware_bridge.codecs import codec_for
from firmware_bridge.codecs.nonin_frames import PACKET_FRAMES, STATUS_SYNC, decode_df2_frame, decode_packet
from firmware_bridge.reading import Reading
from firmware_bridge.simulate import simulator_for
from firmware_bridge.simulate.nonin import (
    NoninDf2Simulator,
    NoninDf7Simulator,
    NoninDf8Simulator,
    NoninDf13Simulator,
    NoninSimulator,
    df2_frame,
    df8_frame,
    df13_record,
    packet_floats,
)
from firmware_bridge.simulate.patient import Vitals
from tests.firmware_bridge.codecs.test_nonin_frames import DF8_72_97, DF13_TIME, PUFFERFISH_DF2

ROOT = Path(__file__).parents[3]
WHEN = datetime(2024, 3, 1, 12, 30, 5, 250_000, tzinfo=UTC)
WHEN_MS = int(WHEN.timestamp() * 1000)
SECONDS = 500
PER_SECOND = {"nonin-df2": 3, "nonin-df7": 3, "nonin-df8": 1, "nonin-df13": 1}
OFF_FLAG = {"nonin-df2": "sensor_alarm", "nonin-df7": "sensor_alarm", "nonin-df8": "sensor_alarm",
            "nonin-df13": "no_measurement"}


def test_df2_packet_is_the_pufferfish_packet() -> None:
    # Same values, pleth 1 and timer 0 as pez-globo/pufferfish-software TestNoninOEM3.cpp: same 125 bytes.
    v = Vitals(97, 72, 3.0)
    floats = packet_floats(v, v, timer=0)
    built = b"".join(df2_frame(STATUS_SYNC if k == 0 else 0, 1, f) for k, f in enumerate(floats))
    assert built == PUFFERFISH_DF2


def test_df8_frame_is_the_spec_vector() -> None:
    assert df8_frame(Vitals(97, 72, 3.0)) == DF8_72_97  # devices.json nonin-df8 vector
    assert df8_frame(None) == bytes((0x83, 0x7F, 0x7F, 0x08))


def test_df13_record_layout() -> None:
    record = df13_record(Vitals(97, 72, 3.0), datetime(2016, 2, 22, 22, 47, 45, 500_000))
    assert record[:6] == bytes.fromhex("0002000d000e") and record[-1] == 0x03
    assert record[6:14] == bytes.fromhex("2016022222474550")  # BCD, as MediPi reads it
    readings = codec_for("nonin-df13").feed(record)
    assert [r.device_time for r in readings] == [DF13_TIME, DF13_TIME]


@pytest.mark.parametrize("protocol, cls", [("nonin-df2", NoninDf2Simulator), ("nonin-df7", NoninDf7Simulator),
                                           ("nonin-df8", NoninDf8Simulator), ("nonin-df13", NoninDf13Simulator)])
def test_registered_for_edge_app_simulate(protocol: str, cls: type[NoninSimulator]) -> None:
    sim = simulator_for(protocol, 1)
    assert type(sim) is cls and sim.baudrate == 9600


@pytest.mark.parametrize("protocol", list(PER_SECOND))
def test_round_trip_through_the_codec(protocol: str) -> None:
    sim = simulator_for(protocol, 11)
    assert isinstance(sim, NoninSimulator)
    codec = codec_for(protocol)
    want: list[tuple[str, object]] = []
    got: list[tuple[str, object]] = []
    on = off = 0
    for second in range(SECONDS):
        readings = codec.feed(sim.next_frame(WHEN))
        got += [(str(r.metric), r.value) for r in readings]
        v = sim.last_vitals
        if v is None:
            off += 1
            if second:  # format 8 confirms its very first frame with the next one
                assert OFF_FLAG[protocol] in codec.status
        else:
            on += 1
            want += [("spo2", v.spo2), ("pulse_rate", v.pulse_rate)] * PER_SECOND[protocol]
        if protocol == "nonin-df13":
            assert all(r.device_time == WHEN_MS for r in readings)
    got += [(str(r.metric), r.value) for r in codec.flush()]
    assert got == want
    assert codec.stats.frames_bad == 0 and codec.stats.resyncs == 0
    assert on and off


def test_display_values_hold_while_the_sensor_is_off() -> None:
    sim = NoninDf2Simulator(seed=11)
    seen_off = False
    for _ in range(SECONDS):
        data = sim.next_frame(WHEN)
        if sim.last_vitals is None:
            seen_off = True
            p = decode_packet([decode_df2_frame(data[5 * k:5 * k + 5]) for k in range(PACKET_FRAMES)])
            assert (p.hr, p.spo2) == (511, 127)
            assert p.spo2_d != 127 and p.hr_d != 511  # the screen keeps the last value for 10 s
            assert all(s & 0x08 for s in p.statuses)
    assert seen_off


def test_packets_carry_a_timer_a_waveform_and_perfusion() -> None:
    sim = NoninDf7Simulator(seed=3)
    codec = codec_for("nonin-df7")
    data = b"".join(sim.next_frame(WHEN) for _ in range(4))
    pleth = [int.from_bytes(data[i + 1:i + 3], "big") for i in range(0, len(data), 5)]
    assert max(pleth) - min(pleth) > 1000  # a pulse wave, not a flat line
    timers = []
    for start in range(0, len(data), 125):
        p = data[start:start + 125]
        timers.append(((p[5 * 5 + 3] & 0x7F) << 7) | (p[6 * 5 + 3] & 0x7F))
    assert timers == list(range(12))
    readings = codec.feed(data)
    assert any(flag.startswith("perfusion_") for r in readings for flag in r.flags)


def test_same_seed_same_bytes() -> None:
    a, b = NoninDf7Simulator(seed=2), NoninDf7Simulator(seed=2)
    assert [a.next_frame(WHEN) for _ in range(30)] == [b.next_frame(WHEN) for _ in range(30)]


def test_edge_app_simulate_nonin_df7_on_a_pty(tmp_path: Path) -> None:
    link = tmp_path / "ttyNONIN"
    code = ("from firmware_bridge.simulate import simulate_main; raise SystemExit(simulate_main("
            f"'nonin-df7', port=None, pty_link={str(link)!r}, rate_hz=5.0, seed=1))")
    p = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout is not None
        assert p.stdout.readline().startswith(f"simulating nonin-df7 on {link} -> /dev/pts/")
        codec = codec_for("nonin-df7")
        got: list[Reading] = []
        with serial.Serial(str(link), 9600, timeout=0.5) as ser:
            deadline = time.monotonic() + 5
            while len(got) < 6 and time.monotonic() < deadline:
                got += codec.feed(ser.read(4096))
        assert len(got) >= 6, codec.stats
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=5)
    assert p.returncode == 0, err
