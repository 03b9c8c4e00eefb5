"""The patient's age, and NEWS2 from an encounter's current values: now, and as it changed over the record.

Pure: typed records in, a News2 (model.news2) out; ``now_ms`` is passed in (no clock reads). NEWS2 is the
Royal College of Physicians' National Early Warning Score 2 (RCP, 2017); news2.py scores the parameters,
this module picks which observation each parameter is scored from and applies the RCP's rule that NEWS2
is not for patients under 16.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from edge_app.clinical import news2 as n2
from edge_app.clinical.current import in_order, newest
from edge_app.model.encounter import Patient
from edge_app.model.news2 import News2, News2Input, News2Parameters
from edge_app.model.observation import Observation

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


def _number(latest: Mapping[str, Observation], metric: str) -> float | None:
    o = latest.get(metric)
    if o is None:
        return None
    # The store types each value by its metric; a bool is not a measurement (True would score as 1).
    if isinstance(o.value, bool) or not isinstance(o.value, int | float):
        raise ValueError(f"NEWS2: {metric} observation {o.id} is not a number")
    return o.value


def _on_oxygen(latest: Mapping[str, Observation], metric: str) -> bool | None:
    o = latest.get(metric)
    if o is None:
        return None
    # SQLite hands booleans back as 0/1 when a row was not typed on the way out.
    if isinstance(o.value, bool) or o.value in (0, 1):
        return bool(o.value)
    raise ValueError(f"NEWS2: {metric} observation {o.id} is not true or false")


def _letter(latest: Mapping[str, Observation], metric: str) -> str | None:
    o = latest.get(metric)
    if o is None:
        return None
    if not isinstance(o.value, str):
        raise ValueError(f"NEWS2: {metric} observation {o.id} is not an ACVPU letter")
    return o.value


def news2_of(latest: Mapping[str, Observation], scale: int, age: int | None = None) -> News2:
    """NEWS2 from an encounter's latest value of each metric (pulse: heart_rate, else pulse_rate)."""
    pulse_metric = "heart_rate" if "heart_rate" in latest else "pulse_rate"
    inputs = n2.News2Inputs(resp_rate=_number(latest, "resp_rate"), spo2=_number(latest, "spo2"),
                            oxygen_supplement=_on_oxygen(latest, "oxygen_supplement"),
                            bp_systolic=_number(latest, "bp_systolic"), pulse=_number(latest, pulse_metric),
                            consciousness=_letter(latest, "consciousness"),
                            temperature=_number(latest, "temperature"))
    r = n2.news2(inputs, scale)
    if age is not None and age < ADULT_AGE:
        # RCP: NEWS2 is not validated under 16; a paediatric score (PEWS) applies. No number at all, so
        # nobody acts on one.
        return News2(total=None, risk=None, scale=r.scale, parameters=News2Parameters(**r.parameters),
                     missing=r.missing, red_score=False, inputs={},
                     response="not scored: NEWS2 is not for patients under 16; use a paediatric early warning score",
                     warning=f"patient is {age}: NEWS2 does not apply under 16")
    metrics = {p: pulse_metric if p == "pulse" else p for p in n2.PARAMETERS}
    used = {p: latest[m] for p, m in metrics.items() if m in latest}
    return News2(total=r.total, risk=r.risk, scale=r.scale, parameters=News2Parameters(**r.parameters),
                 missing=r.missing, red_score=r.red_score, response=r.response, warning=None,
                 inputs={p: News2Input(metric=o.metric, value=o.value, time=o.received_at,
                                       source=o.device or o.source) for p, o in used.items()})


def news2_trend(observations: Sequence[Observation], scale: int, age: int | None) -> list[tuple[int, int]]:
    """(time, total) each time the NEWS2 total changed, replaying the observations as they happened.

    Device readings replay in the order they were stored (id), manual entries in the order of their stated
    times, the two merged by time (current.in_order); each metric's value at each step is picked as the
    store's latest values pick it (current.newest). So a back-dated entry lands where it belongs, and after
    the wall clock stepped back the readings still replay in order and the last total is the current NEWS2.
    """
    device: dict[str, Observation] = {}
    manual: dict[str, Observation] = {}
    latest: dict[str, Observation] = {}
    trend: list[tuple[int, int]] = []
    for o in in_order(o for o in observations if o.metric in NEWS2_METRICS):
        (device if o.source == "device" else manual)[o.metric] = o
        pick = newest(device.get(o.metric), manual.get(o.metric))
        if pick is None or pick is latest.get(o.metric):
            continue  # e.g. a reading from before the manual entry now in force: nothing changes
        latest[o.metric] = pick
        total = news2_of(latest, scale, age).total
        if total is not None and (not trend or trend[-1][1] != total):
            trend.append((o.received_at, total))
    return trend
