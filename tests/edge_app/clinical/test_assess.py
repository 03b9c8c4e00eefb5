"""The patient's age, NEWS2 from the current values (the RCP 2017 public cases) and NEWS2's trend."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_app.clinical.assess import age_years, news2_of, news2_trend
from edge_app.model.encounter import Patient
from edge_app.model.observation import Observation
from edge_app.model.vitals import VitalSign
from tests.edge_app.clinical.records import MIN, T0, obs, vitals_of

HOUR = 60 * MIN
DOC = json.loads((Path(__file__).parents[2] / "vectors" / "news2.json").read_text())
NAMES = {"respiration_rate": "resp_rate", "spo2": "spo2", "air_or_oxygen": "oxygen_supplement",
         "systolic_bp": "bp_systolic", "pulse": "pulse", "consciousness": "consciousness",
         "temperature": "temperature"}


def latest_of(case: dict[str, Any], pulse_metric: str = "pulse_rate") -> dict[str, VitalSign]:
    """A public case's inputs as an encounter's current vitals: monitors for the numbers, the crew for the rest."""
    i = case["input"]
    rows = [obs(1, "resp_rate", i["respiration_rate"], T0), obs(2, "spo2", i["spo2"], T0, "oximeter"),
            obs(3, "oxygen_supplement", i["on_oxygen"], T0), obs(4, "bp_systolic", i["systolic_bp"], T0, "bp-cuff"),
            obs(5, pulse_metric, i["pulse"], T0, "oximeter"), obs(6, "consciousness", i["consciousness"], T0),
            obs(7, "temperature", i["temperature"], T0)]
    return vitals_of(rows)


@pytest.mark.parametrize("case", DOC["cases"], ids=lambda c: c["id"])
@pytest.mark.parametrize("pulse_metric", ["pulse_rate", "heart_rate"])
def test_public_case(case: dict[str, Any], pulse_metric: str) -> None:
    got = news2_of(latest_of(case, pulse_metric), case["input"]["spo2_scale"], age=40)
    want = case["expected"]
    assert {k: getattr(got.parameters, k) for k in NAMES.values()} == \
        {NAMES[k]: v for k, v in want["parameter_scores"].items()}
    assert got.total == want["total"]
    assert got.risk == want["clinical_risk"]
    assert got.red_score == want["red_score_any_single_3"]
    assert (got.missing, got.warning, got.scale) == ([], None, case["input"]["spo2_scale"])
    pulse = got.inputs["pulse"]
    assert (pulse.metric, pulse.value, pulse.time, pulse.source) == (pulse_metric, case["input"]["pulse"], T0,
                                                                     "oximeter")
    assert got.inputs["resp_rate"].source == "manual"


def test_heart_rate_is_the_pulse_when_there_is_one() -> None:
    got = news2_of(vitals_of([obs(1, "pulse_rate", 72, T0, "oximeter"), obs(2, "heart_rate", 135, T0, "ecg")]), 1)
    assert got.parameters.pulse == 3 and got.inputs["pulse"].metric == "heart_rate"


def test_missing_parameters_give_no_total_and_are_named() -> None:
    got = news2_of(vitals_of([obs(1, "spo2", 95, T0, "oximeter")]), 1)
    assert (got.total, got.risk) == (None, None)
    assert got.missing == ["resp_rate", "oxygen_supplement", "bp_systolic", "pulse", "consciousness", "temperature"]
    assert got.response.startswith("incomplete: measure resp_rate")
    assert list(got.inputs) == ["spo2"]


@pytest.mark.parametrize("age", [15, 9, 0])
def test_not_scored_under_16(age: int) -> None:
    # RCP NEWS2 is not validated under 16: no number at all (not even a red score), and the reason.
    got = news2_of(latest_of(DOC["cases"][4]), 1, age)
    assert (got.total, got.risk, got.red_score, got.inputs) == (None, None, False, {})
    assert got.warning == f"patient is {age}: NEWS2 does not apply under 16"
    assert "paediatric early warning score" in got.response


def test_scored_from_16_and_when_the_age_is_unknown() -> None:
    case = DOC["cases"][4]
    assert news2_of(latest_of(case), 1, 16).total == case["expected"]["total"]
    assert news2_of(latest_of(case), 1, None).total == case["expected"]["total"]


@pytest.mark.parametrize(("metric", "value"), [("resp_rate", True), ("spo2", "96"), ("oxygen_supplement", "yes"),
                                               ("consciousness", 1)])
def test_a_value_of_the_wrong_type_is_refused(metric: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"NEWS2: {metric} observation 9"):
        news2_of(vitals_of([obs(9, metric, value, T0)]), 1)


def test_oxygen_as_sqlite_hands_it_back() -> None:
    assert news2_of(vitals_of([obs(1, "oxygen_supplement", 1, T0)]), 1).parameters.oxygen_supplement == 2


def test_age_years() -> None:
    now = T0  # 2026-03-01
    assert age_years(Patient(date_of_birth="1958-03-01"), now) == 68   # birthday today
    assert age_years(Patient(date_of_birth="1958-03-02"), now) == 67   # birthday tomorrow
    assert age_years(Patient(date_of_birth="2024-12-15"), now) == 1
    assert age_years(Patient(estimated_age=60), now) == 60
    assert age_years(Patient(date_of_birth="2015-06-30", estimated_age=60), now) == 10  # the date wins
    assert age_years(Patient(), now) is None


def all_normal(t: int) -> list[Observation]:
    """NEWS2 0, entered by the crew at t (ids 1-5)."""
    return [obs(1, "resp_rate", 16, t), obs(2, "bp_systolic", 120, t), obs(3, "temperature", 37.0, t),
            obs(4, "consciousness", "A", t), obs(5, "oxygen_supplement", False, t)]


def test_news2_trend_replays_in_sequence_and_ends_at_the_current_news2() -> None:
    rows = [*all_normal(T0), obs(6, "pulse_rate", 70, T0 + 1000, "oximeter"), obs(7, "spo2", 97, T0 + 1000, "oximeter"),
            obs(8, "spo2", 88, T0 + 2000 - HOUR, "oximeter")]  # after the clock stepped back: SpO2 88 scores 3
    trend = news2_trend(list(reversed(rows)), 1, None)
    assert trend == [(T0 + 1000, 0), (T0 + 2000 - HOUR, 3)]
    assert news2_of(vitals_of(rows, now=T0 + 2000 - HOUR), 1).total == trend[-1][1]


def test_news2_trend_only_when_the_total_changes_and_a_back_dated_entry_does_not_override() -> None:
    rows = [*all_normal(T0), obs(6, "pulse_rate", 70, T0, "oximeter"), obs(7, "spo2", 97, T0, "oximeter"),
            obs(8, "spo2", 98, T0 + MIN, "oximeter"),     # still 0: no new point
            obs(9, "resp_rate", 26, T0 + 2 * MIN),        # RR 26 scores 3
            obs(10, "resp_rate", 16, T0 + MIN)]           # entered later, back-dated: RR 26 stays current
    assert news2_trend(rows, 1, None) == [(T0, 0), (T0 + 2 * MIN, 3)]


def test_news2_trend_ignores_other_metrics_and_is_empty_under_16() -> None:
    rows = [*all_normal(T0), obs(6, "pulse_rate", 70, T0, "oximeter"), obs(7, "spo2", 97, T0, "oximeter")]
    assert news2_trend([*rows, obs(8, "glucose", 2.1, T0 + MIN)], 1, None) == [(T0, 0)]
    assert news2_trend(rows, 1, 12) == []
    assert news2_trend([], 1, None) == []
