"""Wire schemas (msgspec Structs), apart from storage rows; they are what /schema documents."""
from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

IncidentRef = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[\w ./:#-]*$",
                                          description="the dispatch system's incident reference")]
EncounterStatus = Literal["open", "handed_over", "closed"]


class EncounterCreate(msgspec.Struct, forbid_unknown_fields=True):
    incident_ref: IncidentRef = ""


class EncounterPatch(msgspec.Struct, forbid_unknown_fields=True):
    incident_ref: IncidentRef | None = None
    status: EncounterStatus | None = None
    spo2_scale: Literal[1, 2] | None = None


class Encounter(msgspec.Struct):
    id: str
    incident_ref: str
    status: EncounterStatus
    spo2_scale: int
    created_at: int
    updated_at: int
    version: int
    active: bool
    observation_count: int


class ObservationCreate(msgspec.Struct, forbid_unknown_fields=True):
    metric: Annotated[str, msgspec.Meta(max_length=32)]
    value: float | bool | Annotated[str, msgspec.Meta(max_length=8)]
    unit: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    time: Annotated[int, msgspec.Meta(ge=0, lt=2**45, description="epoch ms, UTC")] | Annotated[
        str, msgspec.Meta(max_length=40, description="ISO 8601 with offset")] | None = None


class Observation(msgspec.Struct):
    id: int
    encounter_id: str | None
    metric: str
    value: float | int | bool | str
    unit: str
    device_time: int | None
    received_at: int
    source: Literal["device", "manual"]
    device: str | None
    flags: list[str]
    entered_by: str | None


class LatestValue(msgspec.Struct):
    value: float | int | bool | str
    unit: str
    time: int
    device_time: int | None
    flags: list[str]


class Device(msgspec.Struct):
    name: str
    protocol: str
    port: str | None
    state: str
    detail: str
    since: int | None
    last_frame_at: int | None
    status_flags: list[str]
    counters: dict[str, int]
    latest: dict[str, LatestValue]


class Health(msgspec.Struct):
    status: Literal["ok"]


class Status(msgspec.Struct):
    version: str
    started_at: int
    devices: list[dict[str, Any]]
    store: dict[str, Any]
    counts: dict[str, int]
    active_encounter: str | None
    upstream: str
    summary: str


class News2Parameters(msgspec.Struct):
    resp_rate: int | None
    spo2: int | None
    oxygen_supplement: int | None
    bp_systolic: int | None
    pulse: int | None
    consciousness: int | None
    temperature: int | None


class News2(msgspec.Struct):
    total: int | None
    risk: Literal["low", "low-medium", "medium", "high"] | None
    scale: Literal[1, 2]
    parameters: News2Parameters
    missing: list[str]
    red_score: bool
    response: str
    inputs: dict[str, Any]
