"""A seeded, pure model of a patient's oximetry: values that drift like a person's, not white noise."""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Vitals:
    """What an oximeter shows at one moment: integer SpO2 (%) and pulse (/min), PI (%) to 2 decimals."""

    spo2: int
    pulse_rate: int
    perfusion_index: float


@dataclass(frozen=True, slots=True)
class _Drift:
    """A mean-reverting random walk (discrete Ornstein-Uhlenbeck) kept inside physiological bounds."""

    mean: float
    pull: float  # fraction of the distance to the mean recovered per step
    noise: float  # standard deviation of one step
    low: float
    high: float

    def step(self, value: float, rng: random.Random) -> float:
        value += self.pull * (self.mean - value) + rng.gauss(0.0, self.noise)
        return min(self.high, max(self.low, value))


# A stable adult in an ambulance: SpO2 mid-90s, pulse near 80, PI a few percent. Pulls are slow enough
# that a minute of 1 Hz lines shows trends, fast enough that the values never wander off for good.
SPO2 = _Drift(mean=96.5, pull=0.05, noise=0.35, low=85.0, high=100.0)
PULSE = _Drift(mean=82.0, pull=0.04, noise=1.2, low=45.0, high=160.0)
PI = _Drift(mean=3.5, pull=0.06, noise=0.15, low=0.3, high=15.0)


class PatientModel:
    """Each step() gives the next second's vitals; the same seed gives the same patient."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        # Start somewhere near the mean, not on it, so two seeds look like two patients.
        self._spo2 = SPO2.mean + self._rng.uniform(-1.5, 1.5)
        self._pulse = PULSE.mean + self._rng.uniform(-10.0, 10.0)
        self._pi = PI.mean + self._rng.uniform(-1.0, 1.0)

    @property
    def rng(self) -> random.Random:
        """The model's random source, for generators that need more randomness from the same seed."""
        return self._rng

    def step(self) -> Vitals:
        """Advance one sample and return it."""
        self._spo2 = SPO2.step(self._spo2, self._rng)
        self._pulse = PULSE.step(self._pulse, self._rng)
        self._pi = PI.step(self._pi, self._rng)
        return Vitals(round(self._spo2), round(self._pulse), round(self._pi, 2))
