"""The simulated patient: repeatable, bounded, and drifting like a person rather than jumping like noise."""
from __future__ import annotations

from itertools import pairwise
from statistics import correlation, mean

from firmware_bridge.simulate.patient import PI, PULSE, SPO2, PatientModel, Vitals


def run(seed: int, n: int) -> list[Vitals]:
    model = PatientModel(seed)
    return [model.step() for _ in range(n)]


def test_same_seed_same_patient_other_seed_other_patient() -> None:
    assert run(7, 200) == run(7, 200)
    assert run(7, 200) != run(8, 200)


def test_values_are_bounded_and_shaped_like_an_oximeters() -> None:
    for v in run(1, 20_000):
        assert isinstance(v.spo2, int) and SPO2.low <= v.spo2 <= SPO2.high
        assert isinstance(v.pulse_rate, int) and PULSE.low <= v.pulse_rate <= PULSE.high
        assert PI.low <= v.perfusion_index <= PI.high
        assert round(v.perfusion_index, 2) == v.perfusion_index


def test_values_drift_and_revert_to_the_mean() -> None:
    series = run(3, 20_000)
    spo2 = [float(v.spo2) for v in series]
    pulse = [float(v.pulse_rate) for v in series]
    # Mean-reverting: the long-run average sits near the model's mean...
    assert abs(mean(spo2) - SPO2.mean) < 1.0
    assert abs(mean(pulse) - PULSE.mean) < 4.0
    # ...and a random walk, not white noise: each second looks like the one before.
    assert correlation(spo2[:-1], spo2[1:]) > 0.7
    assert correlation(pulse[:-1], pulse[1:]) > 0.8
    assert max(abs(a - b) for a, b in pairwise(pulse)) <= 10
