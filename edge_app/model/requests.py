"""What a client may send: request bodies (msgspec Structs, checked as they are decoded).

Shared by the API (Litestar decodes bodies into them and documents them in /schema) and by the clients
that build requests (the TUI). Types of what the box answers are the other modules of edge_app.model.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from firmware_bridge.metrics import Metric

from edge_app.model.encounter import EncounterStatus, Sex

IncidentRef = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[\w ./:#-]*$",
                                          description="the dispatch system's incident reference")]


ShortText = Annotated[str, msgspec.Meta(max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=4000)]
EpochMs = Annotated[int, msgspec.Meta(ge=0, lt=2**45, description="epoch ms, UTC")]
_DATE = r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
ISO_WITH_OFFSET = (r"^(19|20)\d{2}-" + _DATE + r"T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?"
                   r"(Z|[+-](0\d|1[0-4]):[0-5]\d)$")
DATE_OF_BIRTH = r"^\d{4}-" + _DATE + "$"
TimeIn = EpochMs | Annotated[str, msgspec.Meta(max_length=40, pattern=ISO_WITH_OFFSET,
                                              description="ISO 8601 with a UTC offset, e.g. 2026-11-23T10:42:00Z")]


class EncounterCreate(msgspec.Struct, forbid_unknown_fields=True):
    incident_ref: IncidentRef = ""



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
    onset: TimeIn | None | msgspec.UnsetType = msgspec.UNSET  # when the complaint began; up to 31 days back
    patient: PatientPatch | msgspec.UnsetType = msgspec.UNSET
    times: TimesPatch | msgspec.UnsetType = msgspec.UNSET


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


if TYPE_CHECKING:
    MetricName = str  # a Literal built at run time is no static type: to mypy, any string
else:
    MetricName = Literal[tuple(m.value for m in Metric)]  # the vocabulary, in the schema


class ObservationCreate(msgspec.Struct, forbid_unknown_fields=True):
    metric: MetricName
    value: float | bool | Annotated[str, msgspec.Meta(max_length=8)]
    unit: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    time: TimeIn | None = None


NotTestable = Literal["NT", "nt"]


class GcsCreate(msgspec.Struct, forbid_unknown_fields=True):
    eye: Annotated[int, msgspec.Meta(ge=1, le=4)] | NotTestable
    verbal: Annotated[int, msgspec.Meta(ge=1, le=5)] | NotTestable
    motor: Annotated[int, msgspec.Meta(ge=1, le=6)] | NotTestable
    time: TimeIn | None = None


# -- forwarding (edge_app.api.upstream) ----------------------------------------------------------------
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class SuspendRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class ResumeRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""
    approval: dict[str, Any] | None = None  # as the authority signed it: checked by edge_app.upstream.approval


class SignedOrder(msgspec.Struct, forbid_unknown_fields=True):
    """The fleet's suspend order as signed (edge_app.upstream.orders); checked by the daemon."""

    order: dict[str, Any]
    signature: Annotated[str, msgspec.Meta(max_length=200)]


class ManifestRecord(msgspec.Struct, forbid_unknown_fields=True):
    file: Annotated[str, msgspec.Meta(pattern=r"^records/[A-Za-z0-9._-]{1,80}\.json$")]
    key: Annotated[str, msgspec.Meta(max_length=80)]
    kind: Literal["encounter", "observations"]
    encounter_id: Annotated[str, msgspec.Meta(max_length=36)]
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    bytes: Annotated[int, msgspec.Meta(ge=0)]


class SignRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The records of an offline bundle; the daemon adds the type, its vehicle and the time, and signs."""

    records: Annotated[list[ManifestRecord], msgspec.Meta(max_length=100_000)]


class FailureReport(msgspec.Struct, forbid_unknown_fields=True):
    error: Reason
    status: Annotated[int, msgspec.Meta(ge=100, le=599)] | None = None


# -- pairing (edge_app.api.auth) -----------------------------------------------------------------------
TokenName = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$",
                                        description="a name for the tablet, e.g. 'tablet-rear'")]


class PairRequest(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    name: TokenName


class CodeRequest(msgspec.Struct, forbid_unknown_fields=True):
    scope: Literal["crew", "technician", "uplink"] = "crew"
