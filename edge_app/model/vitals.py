"""The current vital signs of an encounter, as the one rule in clinical/vitals.py picks them."""
from __future__ import annotations

from typing import Literal

import msgspec

from edge_app.model.observation import Observation, Value

# current: fresh and reliable, the value to act on; stale: the newest reliable value is older than its
# window (shown with its age, never scored); unreliable: every recent reading is flagged by its device.
VitalState = Literal["current", "stale", "unreliable"]


class VitalSource(msgspec.Struct, frozen=True):
    """What one source (a device, or the crew's manual entries) last said about a metric."""

    source: str  # the device's name, or "manual"
    value: Value
    time: int
    age_s: int
    stale: bool
    reliable: bool
    flags: list[str]
    observation_id: int


class VitalSign(msgspec.Struct, frozen=True):
    """A metric's value to act on now (value None when no reliable value is known) and why it is this one.

    `others` is what every other source last said, so a screen can show both when they differ;
    `disagree` is true when another fresh, reliable source gives a different value at the chart's
    resolution."""

    metric: str
    value: Value | None
    unit: str
    time: int | None
    age_s: int | None
    source: str | None
    stale: bool
    state: VitalState
    flags: list[str]
    observation_id: int | None
    fresh_for_s: int
    reason: str
    disagree: bool
    others: list[VitalSource]


class Vitals(msgspec.Struct, frozen=True):
    """GET /api/v1/encounters/{id}/vitals: each metric the encounter has a value of, at `at`."""

    encounter_id: str
    at: int
    vitals: dict[str, VitalSign]


class ChartSet(msgspec.Struct, frozen=True):
    """A device's current values charted into the record (at the interval, when asked, at handover)."""

    id: int
    encounter_id: str
    at: int
    reason: Literal["interval", "asked", "handover"]
    observations: list[Observation]
