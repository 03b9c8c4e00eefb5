"""NEWS2 against the public cases (RCP 2017 charts) and the chart's band edges."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_app.clinical.news2 import News2Inputs, news2, score_spo2, score_temperature

DOC = json.loads((Path(__file__).parents[2] / "vectors" / "news2.json").read_text())
NAMES = {"respiration_rate": "resp_rate", "spo2": "spo2", "air_or_oxygen": "oxygen_supplement",
         "systolic_bp": "bp_systolic", "pulse": "pulse", "consciousness": "consciousness",
         "temperature": "temperature"}


def inputs_of(case: dict) -> tuple[News2Inputs, int]:
    i = case["input"]
    return News2Inputs(resp_rate=i["respiration_rate"], spo2=i["spo2"], oxygen_supplement=i["on_oxygen"],
                       bp_systolic=i["systolic_bp"], pulse=i["pulse"], consciousness=i["consciousness"],
                       temperature=i["temperature"]), i["spo2_scale"]


@pytest.mark.parametrize("case", DOC["cases"], ids=lambda c: c["id"])
def test_public_case(case: dict) -> None:
    inputs, scale = inputs_of(case)
    got = news2(inputs, scale)
    want = case["expected"]
    assert got.parameters == {NAMES[k]: v for k, v in want["parameter_scores"].items()}
    assert got.total == want["total"]
    assert got.risk == want["clinical_risk"]
    assert got.red_score == want["red_score_any_single_3"]
    assert got.missing == []


def test_missing_inputs_give_no_total_and_name_them() -> None:
    got = news2(News2Inputs(spo2=95, pulse=120), 1)
    assert got.total is None and got.risk is None
    assert got.missing == ["resp_rate", "oxygen_supplement", "bp_systolic", "consciousness", "temperature"]
    assert got.parameters["spo2"] == 1 and got.parameters["pulse"] == 2


def test_scale_2_needs_air_or_oxygen_above_92() -> None:
    assert score_spo2(97, 2, on_oxygen=False) == 0
    assert score_spo2(97, 2, on_oxygen=True) == 3
    assert news2(News2Inputs(spo2=97), 2).parameters["spo2"] is None


@pytest.mark.parametrize(("temp", "score"), [(35.0, 3), (35.04, 3), (35.05, 1), (36.0, 1), (36.1, 0), (38.0, 0),
                                             (38.1, 1), (39.0, 1), (39.1, 2)])
def test_temperature_edges_round_to_the_chart(temp: float, score: int) -> None:
    assert score_temperature(temp) == score
