"""The patient's age, and NEWS2 from an encounter's current values: now, and as it changed over the record.

Pure: typed records in, a News2 (model.news2) out; ``now_ms`` is passed in (no clock reads). NEWS2 is the
Royal College of Physicians' National Early Warning Score 2 (RCP, 2017); news2.py scores the parameters,
this module picks which observation each parameter is scored from and applies the RCP's rule that NEWS2
is not for patients under 16.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from firmware_bridge.flags import is_unreliable

from edge_app.clinical import news2 as n2
from edge_app.clinical.current import in_order
from edge_app.clinical.vitals import DEFAULT_MANUAL_PRECEDENCE_MS, VitalsRules, current_vitals, pulse_for_news2
from edge_app.model.encounter import Patient
from edge_app.model.news2 import News2, News2Parameters
from edge_app.model.observation import Observation
from edge_app.model.vitals import VitalSign

# RCP NEWS2 (2017) is validated for adults; under 16 a paediatric early warning score (PEWS) applies.
ADULT_AGE = 16
# The metrics NEWS2 is scored from: pulse is heart_rate (ECG) when there is one, else pulse_rate (oximeter).
NEWS2_METRICS = frozenset({"resp_rate", "spo2", "oxygen_supplement", "bp_systolic", "heart_rate", "pulse_rate",
                           "consciousness", "temperature"})


def completed_years(born: date, today: date) -> int:
    """Whole years from born to today (a birthday today counts)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def age_years(patient: Patient, now_ms: int) -> int | None:
    """Age in whole years from the date of birth at now_ms, else the estimated age; None when unknown."""
    if patient.date_of_birth:
        # The API refuses a date of birth that is not YYYY-MM-DD, in the future or over 130 years ago.
        born, today = date.fromisoformat(patient.date_of_birth), datetime.fromtimestamp(now_ms / 1000, UTC).date()
        return completed_years(born, today)
    return patient.estimated_age


def _number(vitals: Mapping[str, VitalSign], parameter: str) -> float | None:
    v = vitals.get(parameter)
    if v is None:
        return None
    # The store types each value by its metric; a bool is not a measurement (True would score as 1).
    if isinstance(v.value, bool) or not isinstance(v.value, int | float):
        raise ValueError(f"NEWS2: {v.metric} observation {v.observation_id} is not a number")
    return v.value


def _on_oxygen(vitals: Mapping[str, VitalSign], parameter: str) -> bool | None:
    v = vitals.get(parameter)
    if v is None:
        return None
    # SQLite hands booleans back as 0/1 when a row was not typed on the way out.
    if isinstance(v.value, bool) or v.value in (0, 1):
        return bool(v.value)
    raise ValueError(f"NEWS2: {v.metric} observation {v.observation_id} is not true or false")


def _letter(vitals: Mapping[str, VitalSign], parameter: str) -> str | None:
    v = vitals.get(parameter)
    if v is None:
        return None
    if not isinstance(v.value, str):
        raise ValueError(f"NEWS2: {v.metric} observation {v.observation_id} is not an ACVPU letter")
    return v.value


def news2_inputs(vitals: Mapping[str, VitalSign], manual_precedence_ms: int = DEFAULT_MANUAL_PRECEDENCE_MS
                 ) -> tuple[dict[str, VitalSign], list[str]]:
    """The vitals entry each NEWS2 parameter is scored from (current ones only), and the parameters whose
    newest value is stale (RCP NEWS2 2017 scores the patient's present physiology: an old value is not it)."""
    scored: dict[str, VitalSign] = {}
    stale: list[str] = []
    for p in n2.PARAMETERS:
        v = pulse_for_news2(vitals, manual_precedence_ms) if p == "pulse" else vitals.get(p)
        if v is None or v.value is None:
            continue
        if v.state == "current":
            scored[p] = v
        elif v.state == "stale":
            stale.append(p)
    return scored, stale


def news2_of(vitals: Mapping[str, VitalSign], scale: int, age: int | None = None,
             manual_precedence_ms: int = DEFAULT_MANUAL_PRECEDENCE_MS) -> News2:
    """NEWS2 from an encounter's current vitals (clinical.vitals.current_vitals): what the screen shows is
    what is scored. Pulse is the freshest reliable of heart_rate and pulse_rate (vitals.pulse_for_news2)."""
    used, stale = news2_inputs(vitals, manual_precedence_ms)
    inputs = n2.News2Inputs(resp_rate=_number(used, "resp_rate"), spo2=_number(used, "spo2"),
                            oxygen_supplement=_on_oxygen(used, "oxygen_supplement"),
                            bp_systolic=_number(used, "bp_systolic"), pulse=_number(used, "pulse"),
                            consciousness=_letter(used, "consciousness"), temperature=_number(used, "temperature"))
    r = n2.news2(inputs, scale)
    if age is not None and age < ADULT_AGE:
        # RCP: NEWS2 is not validated under 16; a paediatric score (PEWS) applies. No number at all, so
        # nobody acts on one.
        return News2(total=None, risk=None, risk_at_least=None, scale=r.scale,
                     parameters=News2Parameters(**r.parameters), missing=r.missing, stale=stale, red_score=False,
                     inputs={}, oldest_input_time=None,
                     response="not scored: NEWS2 is not for patients under 16; use a paediatric early warning score",
                     warning=f"patient is {age}: NEWS2 does not apply under 16")
    times = [v.time for p, v in used.items() if v.time is not None and r.parameters.get(p) is not None]
    return News2(total=r.total, risk=r.risk, risk_at_least=r.risk_at_least, scale=r.scale,
                 parameters=News2Parameters(**r.parameters), missing=r.missing, stale=stale,
                 red_score=r.red_score, response=r.response, warning=None,
                 inputs={p: v for p, v in used.items() if r.parameters.get(p) is not None},
                 oldest_input_time=min(times) if times else None)


# A monitor sends every second; a trend point per reading would print a score a second. Device-driven
# changes are sampled at most once a minute; every manual entry (or set of entries made together) counts.
TREND_DEVICE_STEP_MS = 60_000


def scale_at(scales: Sequence[tuple[int, int]], at_ms: int) -> int:
    """The SpO2 scale in force at a time, from (from_ms, scale) changes in time order (the first applies
    before any change)."""
    current = scales[0][1]
    for since, scale in scales:
        if since > at_ms:
            break
        current = scale
    return current


def news2_trend(observations: Sequence[Observation], scales: int | Sequence[tuple[int, int]], age: int | None,
                rules: VitalsRules | None = None) -> list[tuple[int, int]]:
    """(time, total) each time the NEWS2 total changed, replaying the record as it happened.

    At each step the vitals are what current_vitals() would have said then (freshness, manual precedence
    and device preference as of that moment), scored with the SpO2 scale in force then. Device readings
    replay in the order they were stored (id), manual entries by their stated times (current.in_order), so
    a back-dated entry lands where it belongs and a wall clock stepping back does not reorder readings.
    Entries sharing a time (an observation set, a GCS) make one step; device readings at most one a minute.
    """
    rules = rules or VitalsRules()
    changes = [(0, scales)] if isinstance(scales, int) else list(scales) or [(0, 1)]
    newest: dict[tuple[str, str, bool], Observation] = {}  # (metric, source, unreliable) -> newest of those
    trend: list[tuple[int, int]] = []
    rows = in_order(o for o in observations if o.metric in NEWS2_METRICS)
    last_device_step: int | None = None
    for i, o in enumerate(rows):
        # Each source's newest reliable and newest unreliable reading is all current_vitals needs.
        key = (o.metric, (o.device or "device") if o.source == "device" else "manual",
               o.source == "device" and is_unreliable(o.flags))
        newest[key] = o
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        if nxt is not None and nxt.received_at == o.received_at and nxt.source == o.source:
            continue  # one step for entries made together
        if o.source == "device" and nxt is not None and last_device_step is not None \
                and o.received_at - last_device_step < TREND_DEVICE_STEP_MS:
            continue
        if o.source == "device":
            last_device_step = o.received_at
        vitals = current_vitals(newest.values(), rules, o.received_at)
        total = news2_of(vitals, scale_at(changes, o.received_at), age, rules.manual_precedence_ms).total
        if total is not None and (not trend or trend[-1][1] != total):
            trend.append((o.received_at, total))
    return trend
