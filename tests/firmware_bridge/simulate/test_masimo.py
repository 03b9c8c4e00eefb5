"""Simulated Masimo lines are real ASCII 1: they decode back to the simulated vitals through the codec."""
from __future__ import annotations

from datetime import UTC, datetime
from itertools import groupby

from firmware_bridge.codecs import codec_for
from firmware_bridge.simulate.masimo import MasimoSimulator, masimo_line
from firmware_bridge.simulate.patient import Vitals

WHEN = datetime(2024, 3, 1, 12, 30, 5, tzinfo=UTC)


def test_sensor_off_line_is_the_radical7_service_manual_example() -> None:
    # Radical-7 Service Manual rev A example, quoted in nmenon/masimo-datacapture masimo-capture.py.
    manual = (b"05/15/07 08:12:21 SN=0000070986 SPO2=---% BPM=--- PI=--.--% SPCO=--.-% SPMET=--.-% DESAT=-- "
              b"PIDELTA=+-- PVI=--- ALARM=0000 EXC=000000\r\n")
    assert masimo_line(None, datetime(2007, 5, 15, 8, 12, 21), serial_number="0000070986", exc=0) == manual


def test_vitals_line_layout() -> None:
    line = masimo_line(Vitals(97, 64, 11.82), WHEN, serial_number="0000056661")
    assert line == (b"03/01/24 12:30:05 SN=0000056661 SPO2=097% BPM=064 PI=11.82% SPCO=--.-% SPMET=--.-% "
                    b"DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000800\r\n")


def test_round_trip_through_the_codec() -> None:
    sim = MasimoSimulator(seed=11)
    codec = codec_for("masimo-ascii")
    stamp = int(WHEN.timestamp() * 1000)
    on = off = 0
    for _ in range(3000):
        readings = codec.feed(sim.next_frame(WHEN))
        v = sim.last_vitals
        if v is None:
            off += 1
            assert readings == []
            assert "sensor_off" in codec.status
        else:
            on += 1
            assert {str(r.metric): r.value for r in readings} == {
                "spo2": v.spo2, "pulse_rate": v.pulse_rate, "perfusion_index": v.perfusion_index}
            assert all(r.device_time == stamp for r in readings)
            assert codec.status == ("masimo_set",)
    assert codec.stats.frames_bad == 0 and codec.stats.frames_ok == 3000
    assert on and off


def test_sensor_off_spells_are_rare_and_short() -> None:
    sim = MasimoSimulator(seed=5)
    pattern = []
    for _ in range(20_000):
        sim.next_frame(WHEN)
        pattern.append(sim.last_vitals is None)
    runs = [len(list(g)) for is_off, g in groupby(pattern[:-4]) if is_off]
    assert 1 / 80 < sum(pattern) / len(pattern) < 1 / 20  # about 1 line in 40
    assert runs and set(runs) <= {2, 3, 4}


def test_same_seed_same_lines() -> None:
    a, b = MasimoSimulator(seed=2), MasimoSimulator(seed=2)
    assert [a.next_frame(WHEN) for _ in range(100)] == [b.next_frame(WHEN) for _ in range(100)]
