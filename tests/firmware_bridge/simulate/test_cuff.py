"""The simulated BP cuff (hl7-oru, profile "cuff"): a PCD-01 message with NIBP and the cuff's pulse each
cycle and nothing between, decoded by the real codec and acknowledged; chosen by `--profile cuff`."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from firmware_bridge.codecs.hl7_oru import Hl7OruCodec
from firmware_bridge.metrics import Metric
from firmware_bridge.simulate import simulate_main, simulator_for
from firmware_bridge.simulate.cuff import Hl7CuffSimulator

T0 = datetime(2024, 3, 1, 10, 15, 0, tzinfo=UTC)


def test_a_cycle_is_one_message_with_a_whole_blood_pressure_and_nothing_between() -> None:
    sim = Hl7CuffSimulator(seed=3, cycle_ticks=10, first_tick=2)
    codec = Hl7OruCodec()
    frames = [sim.next_frame(T0 + timedelta(seconds=i)) for i in range(25)]
    assert [i for i, f in enumerate(frames) if f] == [2, 12, 22]
    default = Hl7CuffSimulator(seed=3)
    assert [i for i in range(130) if default.next_frame(T0)] == [5, 65, 125], "soon after switching on, then a minute"
    for i in (2, 12, 22):
        readings = codec.feed(frames[i])
        sim.receive(codec.take_output())
        got = {r.metric: r.value for r in readings}
        assert set(got) == {Metric.BP_SYSTOLIC, Metric.BP_DIASTOLIC, Metric.BP_MEAN, Metric.PULSE_RATE}
        assert 111 <= got[Metric.BP_SYSTOLIC] <= 219 and got[Metric.BP_DIASTOLIC] < got[Metric.BP_SYSTOLIC]
        assert all(r.device_time == int((T0 + timedelta(seconds=i)).timestamp() * 1000) for r in readings)
    assert (sim.acked, sim.refused, sim.pending) == (3, 0, {})


def test_the_profile_is_chosen_by_name_and_an_unknown_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(simulator_for("hl7-oru", 1, "cuff"), Hl7CuffSimulator)
    assert not isinstance(simulator_for("hl7-oru", 1), Hl7CuffSimulator)
    with pytest.raises(ValueError, match="hl7-oru has no simulated profile 'pump' \\(profiles: cuff\\)"):
        simulator_for("hl7-oru", 1, "pump")
    with pytest.raises(ValueError, match="masimo-ascii has no simulated profile 'cuff' \\(profiles: none\\)"):
        simulator_for("masimo-ascii", 1, "cuff")
    assert simulate_main("hl7-oru", port=None, pty_link="/nonexistent/x", rate_hz=1.0, seed=None,
                         profile="pump") == 2
    assert "no simulated profile 'pump'" in capsys.readouterr().err
