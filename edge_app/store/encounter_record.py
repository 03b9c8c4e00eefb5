"""The encounter record as a fold over its append-only events (pure; the store keeps a projection of it)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from msgspec.structs import replace

from edge_app.model.encounter import (
    TIMES,
    EncounterEvent,
    EncounterRecord,
    Intervention,
    MedicationGiven,
    Note,
    Patient,
    Times,
)

PATIENT_FIELDS = tuple(Patient.__struct_fields__)
TOP_FIELDS = ("incident_ref", "status", "spo2_scale", "complaint", "injuries", "onset")
# Each list's item type: an appended item is stored as JSON and read back as this.
LISTS: dict[str, type[msgspec.Struct]] = {"medications_given": MedicationGiven, "interventions": Intervention,
                                          "notes": Note}
SETTABLE = frozenset(TOP_FIELDS) | {f"patient.{f}" for f in PATIENT_FIELDS} | {f"times.{t}" for t in TIMES}
STATUS_ORDER = {"open": 0, "handed_over": 1, "closed": 2}


def empty_record(encounter_id: str, incident_ref: str, created_at: int) -> EncounterRecord:
    """A new encounter's record, before any change."""
    return EncounterRecord(id=encounter_id, incident_ref=incident_ref, status="open", spo2_scale=1,
                           created_at=created_at, updated_at=created_at, version=1, complaint=None, injuries=None,
                           patient=Patient(), times=Times(), medications_given=[], interventions=[], notes=[])


def field(record: EncounterRecord, path: str) -> Any:
    """A settable field's value by its path ("status", "patient.sex", "times.at_scene")."""
    head, _, tail = path.partition(".")
    value = getattr(record, head)
    return getattr(value, tail) if tail else value


def apply_event(record: EncounterRecord | None, event: EncounterEvent, encounter_id: str) -> EncounterRecord:
    """The record after one event (a new record; the input is not changed)."""
    kind, path, value = event.kind, event.path, event.value
    if kind == "create":
        return empty_record(encounter_id, value.get("incident_ref", ""), event.at)
    if record is None:
        raise ValueError("an encounter's first event must be its creation")
    if kind == "set":
        if path not in SETTABLE:
            raise ValueError(f"unknown field {path!r}")
        head, _, tail = path.partition(".")
        if tail:
            record = replace(record, **{head: replace(getattr(record, head), **{tail: value})})
        else:
            record = replace(record, **{head: value})
    elif kind == "append":
        if path not in LISTS:
            raise ValueError(f"unknown list {path!r}")
        item = value if isinstance(value, LISTS[path]) else msgspec.convert(value, LISTS[path])
        record = replace(record, **{path: [*getattr(record, path), item]})
    else:
        raise ValueError(f"unknown event kind {kind!r}")
    return replace(record, version=event.version, updated_at=event.at)


def fold(events: Iterable[EncounterEvent], encounter_id: str) -> EncounterRecord:
    """The current record from all of an encounter's events, in order."""
    record: EncounterRecord | None = None
    for ev in events:
        record = apply_event(record, ev, encounter_id)
    if record is None:
        raise ValueError("no events")
    return record
