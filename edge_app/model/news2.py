"""NEWS2 as the box shows it: the score, the parameters behind it, and which observation each came from."""
from __future__ import annotations

from typing import Literal

import msgspec

from edge_app.model.vitals import VitalSign

Risk = Literal["low", "low-medium", "medium", "high"]


class News2Parameters(msgspec.Struct, frozen=True):
    resp_rate: int | None
    spo2: int | None
    oxygen_supplement: int | None
    bp_systolic: int | None
    pulse: int | None
    consciousness: int | None
    temperature: int | None


class News2(msgspec.Struct, frozen=True, kw_only=True):
    """The score (total None while incomplete), and what it stands on: `inputs[p]` is the vitals entry
    each parameter was scored from; `missing` the parameters not scored, of which `stale` had a value too
    old to score; `risk_at_least` the band the scored parameters already guarantee."""

    total: int | None
    risk: Risk | None
    risk_at_least: Risk | None
    scale: Literal[1, 2]
    parameters: News2Parameters
    missing: list[str]
    stale: list[str]
    red_score: bool
    response: str
    inputs: dict[str, VitalSign]
    oldest_input_time: int | None  # when the oldest value scored was taken
    warning: str | None = None
