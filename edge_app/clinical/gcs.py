"""Glasgow Coma Scale: eye 1-4, verbal 1-5, motor 1-6, each also "NT" (not testable).

Pure. Following the Glasgow structured approach (Teasdale et al., glasgowcomascale.org), a
component that cannot be assessed (eyes swollen shut, intubated, a limb in a splint) is recorded
as NT and never given a guessed number; a total is only reported when all three were scored,
since a sum that silently treats NT as 1 (or drops it) under-calls or over-calls the patient.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from edge_app.model.observation import Observation

NT: Literal["NT"] = "NT"
Score = int | Literal["NT"]
COMPONENTS = ("eye", "verbal", "motor")
# "total" is checked like a component so a stored gcs_total row gets the same rules and messages.
RANGES: dict[str, tuple[int, int]] = {"eye": (1, 4), "verbal": (1, 5), "motor": (1, 6), "total": (3, 15)}
LETTERS = {"eye": "E", "verbal": "V", "motor": "M"}


class GcsError(ValueError):
    """A GCS component is out of range or not a score; the message names the component."""


def component(name: str, value: object) -> Score:
    """Check one component: an int in its range or "NT" (any case); ValueError names the component."""
    if name not in RANGES:
        raise GcsError(f"unknown GCS component {name!r} (eye, verbal, motor or total)")
    low, high = RANGES[name]
    if isinstance(value, str):
        text = value.strip()
        if text.upper() == NT:
            return NT
        if not (text.isascii() and text.isdigit()):
            raise GcsError(f"GCS {name} must be {low}-{high} or NT, got {value!r}")
        value = int(text)
    # bool is an int subclass: True must not pass as a score of 1.
    if isinstance(value, bool):
        raise GcsError(f"GCS {name} must be {low}-{high} or NT, got {value!r}")
    if isinstance(value, float):
        # The store may hand back REAL columns; 4.0 is a score, 4.5 is not.
        if not value.is_integer():
            raise GcsError(f"GCS {name} must be a whole number {low}-{high} or NT, got {value!r}")
        value = int(value)
    if not isinstance(value, int):
        raise GcsError(f"GCS {name} must be {low}-{high} or NT, got {value!r}")
    if not low <= value <= high:
        raise GcsError(f"GCS {name} must be {low}-{high} or NT, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Gcs:
    """One assessment: the three checked components."""

    eye: Score
    verbal: Score
    motor: Score

    @classmethod
    def of(cls, eye: object, verbal: object, motor: object) -> Gcs:
        """Build from raw values, checking each component."""
        return cls(component("eye", eye), component("verbal", verbal), component("motor", motor))

    def not_testable(self) -> list[str]:
        """Names of the components recorded as NT, in E-V-M order."""
        return [n for n in COMPONENTS if getattr(self, n) == NT]

    @property
    def total(self) -> int | None:
        """E + V + M, or None when any component is NT."""
        if self.not_testable():
            return None
        return int(self.eye) + int(self.verbal) + int(self.motor)

    def codes(self) -> str:
        """The component string a clinician writes, e.g. "E4 V4 M6" or "E4 VNT M6"."""
        return " ".join(f"{LETTERS[n]}{getattr(self, n)}" for n in COMPONENTS)

    def describe(self) -> str:
        """The handover line: total and components, or the components and why there is no total."""
        total = self.total
        if total is not None:
            return f"GCS {total} ({self.codes()})"
        return f"GCS {self.codes()} (no total: {', '.join(self.not_testable())} not testable)"


def gcs_total(eye: object, verbal: object, motor: object) -> int | None:
    """The GCS total (3-15), or None if any component is NT; GcsError names a bad component."""
    return Gcs.of(eye, verbal, motor).total


def describe(eye: object, verbal: object, motor: object) -> str:
    """A one-line GCS for a handover: "GCS 14 (E4 V4 M6)" or "GCS E4 VNT M6 (no total: ...)"."""
    return Gcs.of(eye, verbal, motor).describe()


# Components typed one at a time (the API takes one observation per entry) arrive seconds apart;
# two minutes covers one assessment being keyed in, and is shorter than any sensible repeat interval.
ASSESSMENT_WINDOW_MS = 120_000
GCS_METRICS = {"gcs_eye": "eye", "gcs_verbal": "verbal", "gcs_motor": "motor"}
# What an assessment is made of: the three components and, when one was entered, a recorded total.
GCS_ROWS = (*GCS_METRICS, "gcs_total")


def assessments(rows: Iterable[Observation]) -> list[list[Observation]]:
    """Group stored gcs_* observations into assessments: within 2 min of the first, no component twice."""
    groups: list[list[Observation]] = []
    current: list[Observation] = []
    for r in sorted((r for r in rows if r.metric in GCS_ROWS), key=lambda r: (r.received_at, r.id)):
        if current and (r.metric in {c.metric for c in current}
                        or r.received_at - current[0].received_at > ASSESSMENT_WINDOW_MS):
            groups.append(current)
            current = []
        current.append(r)
    if current:
        groups.append(current)
    return groups
