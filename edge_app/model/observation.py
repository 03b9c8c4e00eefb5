"""Observations: one vital-sign value, either read from a monitor or entered by a clinician."""
from __future__ import annotations

from typing import Literal

import msgspec

Source = Literal["device", "manual"]
Value = float | int | bool | str


class NewObservation(msgspec.Struct, frozen=True):
    """An observation about to be stored; value already in the metric's canonical unit."""

    metric: str
    value: float | str | bool
    unit: str
    received_at: int
    source: str
    device: str | None = None
    device_time: int | None = None
    flags: tuple[str, ...] = ()
    entered_by: str | None = None


class Observation(msgspec.Struct, frozen=True):
    """A stored observation as the API shows it: value typed by its metric, flags as a list.

    received_at is when the box stored a device reading, or the stated time of a manual entry; id is
    the sequence in which rows were stored, which survives the wall clock stepping back."""

    id: int
    encounter_id: str | None
    metric: str
    value: Value
    unit: str
    device_time: int | None
    received_at: int
    source: Source
    device: str | None
    flags: list[str]
    entered_by: str | None


class GcsResult(msgspec.Struct, frozen=True):
    """A Glasgow Coma Scale as recorded: its total (None when a component is NT), in words, and its rows."""

    total: int | None
    text: str
    observations: list[Observation]
