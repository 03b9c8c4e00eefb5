"""Typed records for the clinical tests: an Observation or an EncounterRecord in one line, with plain defaults."""
from __future__ import annotations

from typing import Any

from edge_app.model.encounter import EncounterRecord, Patient, Times
from edge_app.model.observation import Observation, Value
from firmware_bridge.metrics import METRICS, Metric

T0 = 1772361060000  # 2026-03-01T10:31:00Z, the 999 call
MIN = 60_000


def canonical_unit(metric: str) -> str:
    """The contract's unit for a metric; "" for one the contract does not know."""
    try:
        return METRICS[Metric(metric)].unit
    except ValueError:
        return ""


def obs(i: int, metric: str, value: Value, t: int, device: str | None = None, *, unit: str | None = None,
        device_time: int | None = None, flags: list[str] | None = None,
        entered_by: str | None = "tablet-1") -> Observation:
    """Observation i: a device reading when device is given, else a manual entry (by entered_by) stated at t."""
    return Observation(id=i, encounter_id="enc-1", metric=metric, value=value,
                       unit=canonical_unit(metric) if unit is None else unit, device_time=device_time,
                       received_at=t, source="device" if device else "manual", device=device, flags=flags or [],
                       entered_by=None if device else entered_by)


def record(**fields: Any) -> EncounterRecord:
    """An open encounter created at T0 with nothing recorded; fields override."""
    defaults: dict[str, Any] = {
        "id": "0b6a3f0e-5d0c-4a7e-9a0e-3c1f2b4d5e6f", "incident_ref": "", "status": "open", "spo2_scale": 1,
        "created_at": T0, "updated_at": T0, "version": 1, "complaint": None, "injuries": None,
        "patient": Patient(), "times": Times(), "medications_given": [], "interventions": [], "notes": []}
    return EncounterRecord(**(defaults | fields))


def vitals_of(rows: list[Observation], now: int = T0, **rules: Any) -> dict[str, Any]:
    """The current vitals of these observations at `now`, by the one rule (clinical.vitals)."""
    from edge_app.clinical.vitals import VitalsRules, current_vitals
    return current_vitals(rows, VitalsRules(**rules), now)
