"""NEWS2 as the box shows it: the score, the parameters behind it, and which observation each came from."""
from __future__ import annotations

from typing import Literal

import msgspec

from edge_app.model.observation import Value

Risk = Literal["low", "low-medium", "medium", "high"]


class News2Parameters(msgspec.Struct, frozen=True):
    resp_rate: int | None
    spo2: int | None
    oxygen_supplement: int | None
    bp_systolic: int | None
    pulse: int | None
    consciousness: int | None
    temperature: int | None


class News2Input(msgspec.Struct, frozen=True):
    """The observation a parameter was scored from."""

    metric: str
    value: Value
    time: int
    source: str  # the device's name, or "manual"


class News2(msgspec.Struct, frozen=True):
    total: int | None
    risk: Risk | None
    scale: Literal[1, 2]
    parameters: News2Parameters
    missing: list[str]
    red_score: bool
    response: str
    inputs: dict[str, News2Input]
    warning: str | None = None
