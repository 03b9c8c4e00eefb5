"""Wire schemas (msgspec Structs), apart from storage rows; they are what /schema documents."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from firmware_bridge.metrics import Metric

IncidentRef = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[\w ./:#-]*$",
                                          description="the dispatch system's incident reference")]
EncounterStatus = Literal["open", "handed_over", "closed"]


class EncounterCreate(msgspec.Struct, forbid_unknown_fields=True):
    incident_ref: IncidentRef = ""


Sex = Literal["male", "female", "other", "unknown"]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=4000)]
EpochMs = Annotated[int, msgspec.Meta(ge=0, lt=2**45, description="epoch ms, UTC")]
_DATE = r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
ISO_WITH_OFFSET = (r"^(19|20)\d{2}-" + _DATE + r"T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?"
                   r"(Z|[+-](0\d|1[0-4]):[0-5]\d)$")
DATE_OF_BIRTH = r"^\d{4}-" + _DATE + "$"
TimeIn = EpochMs | Annotated[str, msgspec.Meta(max_length=40, pattern=ISO_WITH_OFFSET,
                                              description="ISO 8601 with a UTC offset, e.g. 2026-11-23T10:42:00Z")]


class Patient(msgspec.Struct):
    name: str | None
    date_of_birth: str | None
    estimated_age: int | None
    sex: Sex | None
    nhs_number: str | None
    allergies: list[str]
    medications: list[str]
    history: str | None


class Times(msgspec.Struct):
    call: int | None
    mobile: int | None
    at_scene: int | None
    at_patient: int | None
    left_scene: int | None
    at_hospital: int | None
    handover: int | None
    clear: int | None


class MedicationGiven(msgspec.Struct):
    id: int
    drug: str
    dose: float
    unit: str
    route: str
    time: int
    given_by: str | None
    entered_by: str


class Intervention(msgspec.Struct):
    id: int
    what: str
    time: int
    by: str | None
    entered_by: str


class Note(msgspec.Struct):
    id: int
    text: str
    time: int
    entered_by: str


class PatientPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Absent: unchanged; null: cleared."""

    name: Annotated[str, msgspec.Meta(max_length=100)] | None | msgspec.UnsetType = msgspec.UNSET
    date_of_birth: Annotated[str, msgspec.Meta(max_length=10, pattern=DATE_OF_BIRTH,
                                               description="YYYY-MM-DD")] | None | \
        msgspec.UnsetType = msgspec.UNSET
    estimated_age: Annotated[int, msgspec.Meta(ge=0, le=130)] | None | msgspec.UnsetType = msgspec.UNSET
    sex: Sex | None | msgspec.UnsetType = msgspec.UNSET
    nhs_number: Annotated[str, msgspec.Meta(max_length=14)] | None | msgspec.UnsetType = msgspec.UNSET
    allergies: Annotated[list[Annotated[str, msgspec.Meta(max_length=100)]], msgspec.Meta(max_length=50)] | \
        msgspec.UnsetType = msgspec.UNSET
    medications: Annotated[list[Annotated[str, msgspec.Meta(max_length=100)]], msgspec.Meta(max_length=50)] | \
        msgspec.UnsetType = msgspec.UNSET
    history: LongText | None | msgspec.UnsetType = msgspec.UNSET


class TimesPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    call: TimeIn | None | msgspec.UnsetType = msgspec.UNSET
    mobile: TimeIn | None | msgspec.UnsetType = msgspec.UNSET
    at_scene: TimeIn | None | msgspec.UnsetType = msgspec.UNSET
    at_patient: TimeIn | None | msgspec.UnsetType = msgspec.UNSET
    left_scene: TimeIn | None | msgspec.UnsetType = msgspec.UNSET
    at_hospital: TimeIn | None | msgspec.UnsetType = msgspec.UNSET
    handover: TimeIn | None | msgspec.UnsetType = msgspec.UNSET
    clear: TimeIn | None | msgspec.UnsetType = msgspec.UNSET


class EncounterPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    incident_ref: IncidentRef | msgspec.UnsetType = msgspec.UNSET
    status: EncounterStatus | msgspec.UnsetType = msgspec.UNSET
    spo2_scale: Literal[1, 2] | msgspec.UnsetType = msgspec.UNSET
    complaint: Annotated[str, msgspec.Meta(max_length=500)] | None | msgspec.UnsetType = msgspec.UNSET
    injuries: Annotated[str, msgspec.Meta(max_length=2000)] | None | msgspec.UnsetType = msgspec.UNSET
    patient: PatientPatch | msgspec.UnsetType = msgspec.UNSET
    times: TimesPatch | msgspec.UnsetType = msgspec.UNSET


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
    complaint: str | None
    injuries: str | None
    patient: Patient
    times: Times
    medications_given: list[MedicationGiven]
    interventions: list[Intervention]
    notes: list[Note]


class MedicationCreate(msgspec.Struct, forbid_unknown_fields=True):
    drug: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    dose: Annotated[float, msgspec.Meta(gt=0, le=100000)]
    unit: Annotated[str, msgspec.Meta(min_length=1, max_length=16, examples=["mg", "mcg", "ml", "L/min", "units"])]
    route: Annotated[str, msgspec.Meta(min_length=1, max_length=32, examples=["oral", "IV", "IM", "IO", "IN", "neb"])]
    time: TimeIn | None = None
    given_by: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class InterventionCreate(msgspec.Struct, forbid_unknown_fields=True):
    what: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    time: TimeIn | None = None
    by: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class NoteCreate(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    time: TimeIn | None = None


class TimeStamp(msgspec.Struct, forbid_unknown_fields=True):
    time: TimeIn | None = None


class EncounterEvent(msgspec.Struct):
    id: int
    version: int
    at: int
    actor: str
    kind: Literal["create", "set", "append"]
    path: str | None
    value: Any


if TYPE_CHECKING:
    MetricName = str  # a Literal built at run time is no static type: to mypy, any string
else:
    MetricName = Literal[tuple(m.value for m in Metric)]  # the vocabulary, in the schema


class ObservationCreate(msgspec.Struct, forbid_unknown_fields=True):
    metric: MetricName
    value: float | bool | Annotated[str, msgspec.Meta(max_length=8)]
    unit: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    time: TimeIn | None = None


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
    info: dict[str, str] = {}


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
    warning: str | None = None


NotTestable = Literal["NT", "nt"]


class GcsCreate(msgspec.Struct, forbid_unknown_fields=True):
    eye: Annotated[int, msgspec.Meta(ge=1, le=4)] | NotTestable
    verbal: Annotated[int, msgspec.Meta(ge=1, le=5)] | NotTestable
    motor: Annotated[int, msgspec.Meta(ge=1, le=6)] | NotTestable
    time: TimeIn | None = None


class GcsResult(msgspec.Struct):
    total: int | None
    text: str
    observations: list[Observation]
