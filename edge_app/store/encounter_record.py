"""The encounter record as a fold over its append-only events (pure; the store keeps a projection of it)."""
from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

TIMES = ("call", "mobile", "at_scene", "at_patient", "left_scene", "at_hospital", "handover", "clear")
PATIENT_FIELDS = ("name", "date_of_birth", "estimated_age", "sex", "nhs_number", "allergies", "medications",
                  "history")
TOP_FIELDS = ("incident_ref", "status", "spo2_scale", "complaint", "injuries")
LISTS = ("medications_given", "interventions", "notes")
SETTABLE = frozenset(TOP_FIELDS) | {f"patient.{f}" for f in PATIENT_FIELDS} | {f"times.{t}" for t in TIMES}
STATUS_ORDER = {"open": 0, "handed_over": 1, "closed": 2}
# Lists inside the patient are set whole; everything else scalar.
_LIST_VALUED = {"patient.allergies", "patient.medications"}


def empty_record(encounter_id: str, incident_ref: str, created_at: int) -> dict[str, Any]:
    """A new encounter's record, before any change."""
    return {
        "id": encounter_id, "incident_ref": incident_ref, "status": "open", "spo2_scale": 1,
        "created_at": created_at, "updated_at": created_at, "version": 1,
        "complaint": None, "injuries": None,
        "patient": {f: ([] if f"patient.{f}" in _LIST_VALUED else None) for f in PATIENT_FIELDS},
        "times": {t: None for t in TIMES},
        "medications_given": [], "interventions": [], "notes": [],
    }


def apply_event(record: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The record after one event (a new dict; the input is not changed)."""
    out = copy.deepcopy(record)
    kind, path, value = event["kind"], event["path"], event["value"]
    if kind == "create":
        return empty_record(event["encounter_id"], value.get("incident_ref", ""), event["at"])
    if kind == "set":
        if path not in SETTABLE:
            raise ValueError(f"unknown field {path!r}")
        head, _, tail = path.partition(".")
        if tail:
            out[head][tail] = value
        else:
            out[head] = value
    elif kind == "append":
        if path not in LISTS:
            raise ValueError(f"unknown list {path!r}")
        out[path].append(value)
    else:
        raise ValueError(f"unknown event kind {kind!r}")
    out["version"] = event["version"]
    out["updated_at"] = event["at"]
    return out


def fold(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The current record from all of an encounter's events, in order."""
    record: dict[str, Any] | None = None
    for ev in events:
        if record is None:
            if ev["kind"] != "create":
                raise ValueError("an encounter's first event must be its creation")
            record = apply_event({}, ev)
        else:
            record = apply_event(record, ev)
    if record is None:
        raise ValueError("no events")
    return record
