"""Checks on what clinicians enter: vocabulary, value kind, unit, plausible range, times, patient fields.

Each refusal is InvalidInput whose message names the field (the API answers 422 with it)."""
from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import msgspec

from firmware_bridge.metrics import ACVPU, METRICS, Metric, ValueKind

from edge_app.clinical.nhs import normalise_nhs_number
from edge_app.errors import InvalidInput
from edge_app.model.encounter import TIMES
from edge_app.model.observation import NewObservation
from edge_app.model.requests import EncounterPatch, ObservationCreate
from edge_app.store.queries import Reader

# A clinician may back-date an entry ("given at 10:42") but not by days, nor into the future.
MAX_BACKDATE_MS = 24 * 3600 * 1000
MAX_AHEAD_MS = 5 * 60 * 1000
MAX_ONSET_BACK_MS = 31 * 86_400_000
# What a clinician reads and writes in whole units: the NEWS2 chart's RR, SpO2, systolic and pulse (RCP 2017
# Chart 1 prints whole numbers), the rest of the BP, and scores. Temperature is charted to 0.1 C.
WHOLE_NUMBERS = frozenset({Metric.RESP_RATE, Metric.SPO2, Metric.BP_SYSTOLIC, Metric.BP_DIASTOLIC, Metric.BP_MEAN,
                           Metric.HEART_RATE, Metric.PULSE_RATE, Metric.GCS_EYE, Metric.GCS_VERBAL,
                           Metric.GCS_MOTOR, Metric.GCS_TOTAL, Metric.PAIN_SCORE})


def bad(detail: str) -> InvalidInput:
    """The request was well-formed but a value is wrong; the detail names the field."""
    return InvalidInput(detail)


def manual_value(data: ObservationCreate) -> tuple[Metric, float | str | bool, str]:
    """The metric, the value to store and its canonical unit, or InvalidInput saying what is wrong."""
    try:
        metric = Metric(data.metric)
    except ValueError:
        raise bad(f"unknown metric {data.metric!r}; known: {', '.join(m.value for m in Metric)}") from None
    info = METRICS[metric]
    if data.unit is not None and data.unit != info.unit:
        raise bad(f"{metric}: unit must be {info.unit!r} (the canonical unit), got {data.unit!r}")
    value = data.value
    if info.kind is ValueKind.BOOLEAN:
        if not isinstance(value, bool):
            raise bad(f"{metric}: value must be true or false")
        return metric, value, info.unit
    if info.kind is ValueKind.TEXT:
        if not isinstance(value, str) or value.upper() not in ACVPU:
            raise bad(f"{metric}: value must be one of {', '.join(ACVPU)}")
        return metric, value.upper(), info.unit
    if metric in (Metric.GCS_EYE, Metric.GCS_VERBAL, Metric.GCS_MOTOR) and isinstance(value, str):
        if value.strip().upper() != "NT":
            raise bad(f"{metric}: value must be a score or \"NT\" (not testable)")
        return metric, "NT", info.unit
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad(f"{metric}: value must be a number")
    if info.low is not None and info.high is not None and not info.low <= value <= info.high:
        raise bad(f"{metric}: {value:g} is outside {info.low:g}..{info.high:g} {info.unit}")
    if metric in WHOLE_NUMBERS and not float(value).is_integer():
        raise bad(f"{metric}: value must be a whole number (the chart reads {metric} in whole units)")
    if metric is Metric.TEMPERATURE and not float(round(value, 1)) == value:
        raise bad(f"{metric}: give at most one decimal (e.g. 37.5), got {value:g}")
    return metric, float(value), info.unit


# Entries of the other half of a blood pressure within this of a new one are the same measurement.
BP_PAIR_MS = 2 * 60 * 1000
CHECKED_AGAINST_RECORD = frozenset({Metric.BP_SYSTOLIC, Metric.BP_DIASTOLIC, Metric.GCS_TOTAL})


def check_against_record(reader: Reader, encounter_id: str, new: NewObservation) -> None:
    """Refuse an entry that contradicts what the crew entered with it (call on a reader thread):
    - a systolic at or below the diastolic of the same measurement (entered within 2 min of it), or the
      reverse: a blood pressure's systolic is above its diastolic by definition, so one of them is a typo;
    - a GCS total other than the sum of components recorded at its time or later (Teasdale & Jennett;
      the Glasgow Coma Scale total is E + V + M): the newer components stand, the total is refused."""
    at = new.received_at
    if new.metric in (Metric.BP_SYSTOLIC, Metric.BP_DIASTOLIC):
        other = Metric.BP_DIASTOLIC if new.metric == Metric.BP_SYSTOLIC else Metric.BP_SYSTOLIC
        near = reader.manual_entries(encounter_id, (other,), at - BP_PAIR_MS, at + BP_PAIR_MS)
        if near:
            pair = min(near, key=lambda o: abs(o.received_at - at))
            systolic, diastolic = (new.value, pair.value) if other == Metric.BP_DIASTOLIC else (pair.value, new.value)
            if isinstance(systolic, int | float) and isinstance(diastolic, int | float) and systolic <= diastolic:
                raise bad(f"{new.metric}: a systolic ({systolic:g}) must be above its diastolic ({diastolic:g}) "
                          f"entered with it; correct one of them")
    elif new.metric == Metric.GCS_TOTAL:
        parts = (Metric.GCS_EYE, Metric.GCS_VERBAL, Metric.GCS_MOTOR)
        newest = {o.metric: o for o in reader.manual_entries(encounter_id, parts, at, at + MAX_BACKDATE_MS)}
        values = [newest[p].value for p in parts if p in newest]
        if len(values) == 3 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            total = sum(v for v in values if isinstance(v, int | float))
            if total != new.value:
                raise bad(f"gcs_total: {new.value:g} contradicts the components recorded at that time or later "
                          f"(E{values[0]:g} V{values[1]:g} M{values[2]:g} = {total:g}); record the GCS again")


def manual_time(data: ObservationCreate, now_ms: int) -> int:
    """When it was observed (epoch ms); defaults to now."""
    return parse_time(data.time, now_ms, "time")


def parse_time(t: int | str | None, now_ms: int, field: str, max_back_ms: int = MAX_BACKDATE_MS) -> int:
    """Epoch ms from epoch ms or ISO 8601 with an offset; None means now; not in the future, not days back."""
    if t is None:
        return now_ms
    if isinstance(t, str):
        try:
            parsed = datetime.fromisoformat(t)
        except ValueError:
            raise bad(f"{field}: {t!r} is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise bad(f"{field}: give a UTC offset (e.g. 2026-11-23T10:42:00Z)")
        t = int(parsed.timestamp() * 1000)
    if t > now_ms + MAX_AHEAD_MS:
        raise bad(f"{field}: is in the future")
    if t < now_ms - max_back_ms:
        raise bad(f"{field}: is more than {max_back_ms // 3_600_000} h ago" if max_back_ms < 2 * 86_400_000
                  else f"{field}: is more than {max_back_ms // 86_400_000} days ago")
    return t


def _date_of_birth(value: str, now_ms: int) -> str:
    try:
        dob = date.fromisoformat(value)
    except ValueError:
        raise bad(f"patient.date_of_birth: {value!r} is not a date (YYYY-MM-DD)") from None
    today = datetime.fromtimestamp(now_ms / 1000, UTC).date()
    if dob > today:
        raise bad("patient.date_of_birth: is in the future")
    if today.year - dob.year > 130:
        raise bad("patient.date_of_birth: more than 130 years ago")
    return dob.isoformat()


def _nhs_number(value: str) -> str:
    try:
        return normalise_nhs_number(value)
    except ValueError as exc:
        raise bad(f"patient.nhs_number: {exc}") from None


def encounter_changes(patch: EncounterPatch, now_ms: int) -> dict[str, Any]:
    """The patch as field paths -> new values, each checked; absent fields are not changes."""
    out: dict[str, Any] = {}
    for name in ("incident_ref", "status", "spo2_scale", "complaint", "injuries"):
        value = getattr(patch, name)
        if value is not msgspec.UNSET:
            out[name] = value.strip() if isinstance(value, str) else value
    if patch.onset is not msgspec.UNSET:
        # Symptoms may have begun days before the call ("chest pain since Monday"): a month back at most.
        out["onset"] = None if patch.onset is None else parse_time(patch.onset, now_ms, "onset", MAX_ONSET_BACK_MS)
    if patch.patient is not msgspec.UNSET:
        p = patch.patient
        for name in ("name", "estimated_age", "sex", "history"):
            value = getattr(p, name)
            if value is not msgspec.UNSET:
                out[f"patient.{name}"] = value.strip() or None if isinstance(value, str) else value
        if p.date_of_birth is not msgspec.UNSET:
            out["patient.date_of_birth"] = None if p.date_of_birth is None else _date_of_birth(p.date_of_birth,
                                                                                                now_ms)
        if p.nhs_number is not msgspec.UNSET:
            out["patient.nhs_number"] = None if p.nhs_number is None else _nhs_number(p.nhs_number)
        for name in ("allergies", "medications"):
            value = getattr(p, name)
            if value is not msgspec.UNSET:
                out[f"patient.{name}"] = [v.strip() for v in value if v.strip()]
    if patch.times is not msgspec.UNSET:
        for name in TIMES:
            value = getattr(patch.times, name)
            if value is not msgspec.UNSET:
                # A stamp may be corrected a day later at most; None clears a mistaken stamp.
                out[f"times.{name}"] = None if value is None else parse_time(value, now_ms, f"times.{name}")
    return out
