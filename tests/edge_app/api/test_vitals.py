"""GET /encounters/{id}/vitals: the current value of each vital sign by the one rule, and NEWS2 scored from
exactly that answer (the rule itself is tested case by case in tests/edge_app/clinical/test_vitals.py)."""
from __future__ import annotations

from typing import Any

import pytest

from edge_app.model.observation import NewObservation
from edge_app.store.observations import insert_device_observations
from tests.edge_app.api.conftest import Api, now_ms

E = "/api/v1/encounters"
HOUR = 3_600_000
OXIMETERS = (("ox-a", "masimo-ascii", "/dev/null"), ("ox-b", "masimo-ascii", "/dev/null"))


def reading(api: Api, device: str, metric: str, value: float, *, ago_ms: int = 0, flags: tuple[str, ...] = ()) -> int:
    [oid] = api.write(insert_device_observations([NewObservation(
        metric=metric, value=value, unit="%" if metric == "spo2" else "/min", received_at=now_ms() - ago_ms,
        source="device", device=device, flags=flags)]))
    return int(oid)


def entry(api: Api, eid: str, metric: str, value: Any, **extra: Any) -> dict[str, Any]:
    r = api.client.post(f"{E}/{eid}/observations", json={"metric": metric, "value": value, **extra}, headers=api.crew)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def vitals(api: Api, eid: str) -> dict[str, Any]:
    r = api.client.get(f"{E}/{eid}/vitals", headers=api.crew)
    assert r.status_code == 200, r.text
    assert r.json()["encounter_id"] == eid
    doc: dict[str, Any] = r.json()["vitals"]
    return doc


@pytest.mark.edge_config(devices=OXIMETERS)
def test_each_value_says_its_source_age_and_standing(api: Api) -> None:
    eid = api.encounter()["id"]
    oid = reading(api, "ox-a", "spo2", 95, ago_ms=2000)
    rr = entry(api, eid, "resp_rate", 22)
    got = vitals(api, eid)
    spo2 = got["spo2"]
    assert {k: spo2[k] for k in ("value", "unit", "source", "stale", "state", "observation_id", "disagree")} == {
        "value": 95, "unit": "%", "source": "ox-a", "stale": False, "state": "current", "observation_id": oid,
        "disagree": False}
    assert 1 <= spo2["age_s"] <= 5 and spo2["fresh_for_s"] == 120 and spo2["others"] == []
    assert (got["resp_rate"]["source"], got["resp_rate"]["value"], got["resp_rate"]["time"]) == \
        ("manual", 22, rr["received_at"])


@pytest.mark.edge_config(devices=OXIMETERS)
def test_the_first_configured_oximeter_wins_and_the_other_is_shown(api: Api) -> None:
    eid = api.encounter()["id"]
    reading(api, "ox-b", "spo2", 90)
    reading(api, "ox-a", "spo2", 97)
    spo2 = vitals(api, eid)["spo2"]
    assert (spo2["value"], spo2["source"], spo2["disagree"]) == (97, "ox-a", True)
    assert [(o["source"], o["value"], o["reliable"]) for o in spo2["others"]] == [("ox-b", 90, True)]
    # NEWS2 scores the value on show, not the other one
    news2 = api.client.get(f"{E}/{eid}/news2", headers=api.crew).json()
    assert news2["inputs"]["spo2"]["source"] == "ox-a" and news2["parameters"]["spo2"] == 0


@pytest.mark.edge_config(devices=OXIMETERS)
def test_a_manual_entry_outranks_the_probe_and_a_sensor_off_reading_never_counts(api: Api) -> None:
    eid = api.encounter()["id"]
    entry(api, eid, "spo2", 88)
    reading(api, "ox-a", "spo2", 97)
    spo2 = vitals(api, eid)["spo2"]
    assert (spo2["value"], spo2["source"], spo2["disagree"]) == (88, "manual", True)
    reading(api, "ox-b", "pulse_rate", 40, flags=("sensor_off",))
    pulse = vitals(api, eid)["pulse_rate"]
    assert (pulse["value"], pulse["state"], pulse["flags"]) == (None, "unreliable", ["sensor_off"])
    assert [(o["source"], o["value"], o["reliable"]) for o in pulse["others"]] == [("ox-b", 40, False)]


def test_news2_names_stale_inputs_and_the_band_it_is_at_least(api: Api) -> None:
    eid = api.encounter()["id"]
    entry(api, eid, "resp_rate", 30, time=now_ms() - 23 * HOUR)   # the API takes up to 24 h back
    entry(api, eid, "consciousness", "U")
    news2 = api.client.get(f"{E}/{eid}/news2", headers=api.crew).json()
    assert news2["total"] is None and news2["stale"] == ["resp_rate"]
    assert (news2["risk_at_least"], news2["red_score"]) == ("low-medium", True)
    assert list(news2["inputs"]) == ["consciousness"] and news2["inputs"]["consciousness"]["state"] == "current"
    assert vitals(api, eid)["resp_rate"]["stale"] is True


def test_an_encounter_with_nothing_recorded_has_no_vitals_and_an_unknown_one_is_404(api: Api) -> None:
    eid = api.encounter()["id"]
    assert vitals(api, eid) == {}
    r = api.client.get(f"{E}/0b6a3f0e-5d0c-4a7e-9a0e-3c1f2b4d5e6f/vitals", headers=api.crew)
    assert r.status_code == 404 and "not found" in r.json()["detail"]


def test_the_uplink_may_not_read_vitals(api: Api) -> None:
    eid = api.encounter()["id"]
    assert api.client.get(f"{E}/{eid}/vitals", headers=api.uplink).status_code == 403


@pytest.mark.edge_config(devices=OXIMETERS)
def test_the_handover_says_the_pulse_news2_scored(api: Api) -> None:
    eid = api.encounter()["id"]
    api.write(insert_device_observations([NewObservation(
        metric="heart_rate", value=140, unit="/min", received_at=now_ms() - 10 * 60_000, source="device",
        device="ox-b")]))
    reading(api, "ox-a", "pulse_rate", 84)
    news2 = api.client.get(f"{E}/{eid}/news2", headers=api.crew).json()
    assert news2["inputs"]["pulse"]["metric"] == "pulse_rate"
    text = api.client.get(f"{E}/{eid}/handover", headers=api.crew).text
    assert "   Pulse 84/min (just now)" in text and "HR 140" not in text
