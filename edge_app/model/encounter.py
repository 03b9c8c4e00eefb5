"""The encounter record: the projection of its append-only events, and the change history itself."""
from __future__ import annotations

from typing import Any, Literal

import msgspec

EncounterStatus = Literal["open", "handed_over", "closed"]
Sex = Literal["male", "female", "other", "unknown"]
TIMES = ("call", "mobile", "at_scene", "at_patient", "left_scene", "at_hospital", "handover", "clear")
TimeName = Literal["call", "mobile", "at_scene", "at_patient", "left_scene", "at_hospital", "handover", "clear"]


class Patient(msgspec.Struct, frozen=True):
    name: str | None = None
    date_of_birth: str | None = None
    estimated_age: int | None = None
    sex: Sex | None = None
    nhs_number: str | None = None
    allergies: list[str] = []
    medications: list[str] = []
    history: str | None = None


class Times(msgspec.Struct, frozen=True):
    """Milestone stamps, epoch ms; None: not stamped."""

    call: int | None = None
    mobile: int | None = None
    at_scene: int | None = None
    at_patient: int | None = None
    left_scene: int | None = None
    at_hospital: int | None = None
    handover: int | None = None
    clear: int | None = None


class MedicationGiven(msgspec.Struct, frozen=True):
    id: int
    drug: str
    dose: float
    unit: str
    route: str
    time: int
    given_by: str | None
    entered_by: str


class Intervention(msgspec.Struct, frozen=True):
    id: int
    what: str
    time: int
    by: str | None
    entered_by: str


class Note(msgspec.Struct, frozen=True):
    id: int
    text: str
    time: int
    entered_by: str


class EncounterRecord(msgspec.Struct, frozen=True):
    """The record as its events make it (what the store keeps as the encounter's projection)."""

    id: str
    incident_ref: str
    status: EncounterStatus
    spo2_scale: int
    created_at: int
    updated_at: int
    version: int
    complaint: str | None
    injuries: str | None
    patient: Patient
    times: Times
    medications_given: list[MedicationGiven]
    interventions: list[Intervention]
    notes: list[Note]
    onset: int | None = None  # when the complaint began, epoch ms (ATMIST T); None: not recorded


class Encounter(EncounterRecord, frozen=True, kw_only=True):
    """The record as the API shows it: with whether it is the active one and how many observations it has."""

    active: bool
    observation_count: int


class EncounterEvent(msgspec.Struct, frozen=True):
    """One change to a record: its creation, a field set, or an item appended to a list."""

    id: int
    version: int
    at: int
    actor: str
    kind: Literal["create", "set", "append"]
    path: str | None
    value: Any
