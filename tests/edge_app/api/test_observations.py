"""Observations: manual entry of each kind of value, the GCS, listings (metric, after, limit, unassigned,
device) and NEWS2 from the latest values; and the refusals, each naming what is wrong."""
from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest

from edge_app.model.events import kind_of
from tests.edge_app.api.conftest import TOKEN_NAMES, Api, now_ms

E = "/api/v1/encounters"


def add(api: Api, eid: str, body: dict[str, Any]) -> dict[str, Any]:
    r = api.client.post(f"{E}/{eid}/observations", json=body, headers=api.crew)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


@pytest.mark.parametrize(("body", "value", "unit"), [
    ({"metric": "resp_rate", "value": 22}, 22, "/min"),  # a number
    ({"metric": "temperature", "value": 38.4, "unit": "Cel"}, 38.4, "Cel"),  # with its canonical unit
    ({"metric": "consciousness", "value": "v"}, "V", ""),  # ACVPU, as typed
    ({"metric": "oxygen_supplement", "value": True}, True, ""),  # a yes or no
    ({"metric": "gcs_eye", "value": "nt"}, "NT", "{score}"),  # a GCS component not testable
    ({"metric": "pain_score", "value": 7}, 7, "{score}"),
])
def test_manual_entry_of_each_kind_of_value(api: Api, body: dict[str, Any], value: Any, unit: str) -> None:
    eid = api.encounter()["id"]
    before = now_ms()
    obs = add(api, eid, body)
    assert {k: v for k, v in obs.items() if k not in ("id", "received_at")} == {
        "encounter_id": eid, "metric": body["metric"], "value": value, "unit": unit, "device_time": None,
        "source": "manual", "device": None, "flags": [], "entered_by": TOKEN_NAMES["crew"]}
    assert type(obs["value"]) is type(value)
    assert before <= obs["received_at"] <= now_ms()
    assert api.client.get(f"{E}/{eid}/observations", headers=api.crew).json() == [obs]
    assert api.client.get(f"{E}/{eid}", headers=api.crew).json()["observation_count"] == 1


def test_a_back_dated_entry_keeps_its_time(api: Api) -> None:
    eid = api.encounter()["id"]
    at = now_ms() - 15 * 60_000
    assert add(api, eid, {"metric": "spo2", "value": 94, "time": at})["received_at"] == at


def test_gcs_stores_its_components_and_the_total(api: Api) -> None:
    eid = api.encounter()["id"]
    r = api.client.post(f"{E}/{eid}/gcs", json={"eye": 3, "verbal": 4, "motor": 6}, headers=api.crew)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["total"] == 13 and "E3" in doc["text"] and "V4" in doc["text"] and "M6" in doc["text"]
    assert [(o["metric"], o["value"], o["unit"], o["source"]) for o in doc["observations"]] == [
        ("gcs_eye", 3, "{score}", "manual"), ("gcs_verbal", 4, "{score}", "manual"),
        ("gcs_motor", 6, "{score}", "manual"), ("gcs_total", 13, "{score}", "manual")]
    assert len({o["received_at"] for o in doc["observations"]}) == 1, "one assessment, one time"
    listed = api.client.get(f"{E}/{eid}/observations", headers=api.crew).json()
    assert listed == doc["observations"]


def test_gcs_with_a_component_not_testable_has_no_total(api: Api) -> None:
    eid = api.encounter()["id"]
    doc = api.client.post(f"{E}/{eid}/gcs", json={"eye": 2, "verbal": "NT", "motor": 5}, headers=api.crew).json()
    assert doc["total"] is None and "VNT" in doc["text"].replace(" ", "")
    assert [(o["metric"], o["value"]) for o in doc["observations"]] == [
        ("gcs_eye", 2), ("gcs_verbal", "NT"), ("gcs_motor", 5)]


def test_listing_by_metric_after_and_limit(api: Api) -> None:
    eid = api.encounter()["id"]
    ids = [add(api, eid, {"metric": m, "value": v})["id"]
           for m, v in [("heart_rate", 80), ("spo2", 97), ("heart_rate", 84), ("spo2", 96), ("heart_rate", 88)]]
    assert ids == sorted(ids)

    def listed(**params: Any) -> list[tuple[str, Any]]:
        r = api.client.get(f"{E}/{eid}/observations", params=params, headers=api.crew)
        assert r.status_code == 200, r.text
        return [(o["metric"], o["value"]) for o in r.json()]

    assert listed(metric="heart_rate") == [("heart_rate", 80), ("heart_rate", 84), ("heart_rate", 88)]
    assert listed(after=ids[1]) == [("heart_rate", 84), ("spo2", 96), ("heart_rate", 88)]
    assert listed(limit=2) == [("heart_rate", 80), ("spo2", 97)]
    assert listed(metric="spo2", after=ids[1], limit=5) == [("spo2", 96)]
    assert listed(after=ids[-1]) == []


def test_readings_with_no_open_encounter_are_unassigned(api: Api) -> None:
    early = api.device_readings("ox", ("spo2", 98.0, "%"), ("pulse_rate", 71.0, "/min"))
    eid = api.encounter()["id"]
    late = api.device_readings("ox", ("spo2", 97.0, "%"))
    api.device_readings("cuff", ("bp_systolic", 120.0, "mm[Hg]"))
    unassigned = api.client.get("/api/v1/observations", params={"unassigned": "true"}, headers=api.crew).json()
    assert [(o["id"], o["encounter_id"], o["device"], o["source"]) for o in unassigned] == [
        (early[0], None, "ox", "device"), (early[1], None, "ox", "device")]
    everything = api.client.get("/api/v1/observations", headers=api.crew).json()
    assert [o["id"] for o in everything] == [*early, *late, late[0] + 1]
    assert everything[2]["encounter_id"] == eid
    by_device = api.client.get("/api/v1/observations", params={"device": "cuff"}, headers=api.crew).json()
    assert [(o["metric"], o["value"]) for o in by_device] == [("bp_systolic", 120)]
    spo2 = api.client.get("/api/v1/observations", params={"metric": "spo2", "after": early[0], "limit": 1},
                          headers=api.crew).json()
    assert [o["id"] for o in spo2] == late


NEWS2_SET = [("resp_rate", 22), ("spo2", 95), ("oxygen_supplement", False), ("bp_systolic", 105),
             ("pulse_rate", 95), ("consciousness", "A"), ("temperature", 38.5)]


def test_news2_from_the_latest_values(api: Api) -> None:
    eid = api.encounter()["id"]
    empty = api.client.get(f"{E}/{eid}/news2", headers=api.crew).json()
    assert empty["total"] is None and empty["risk"] is None and len(empty["missing"]) == 7
    assert empty["response"].startswith("incomplete: measure")
    add(api, eid, {"metric": "resp_rate", "value": 12})  # superseded by the later entry below
    for metric, value in NEWS2_SET:
        add(api, eid, {"metric": metric, "value": value})
    doc = api.client.get(f"{E}/{eid}/news2", headers=api.crew).json()
    assert (doc["total"], doc["risk"], doc["scale"], doc["missing"], doc["red_score"], doc["warning"]) == (
        6, "medium", 1, [], False, None)
    assert doc["parameters"] == {"resp_rate": 2, "spo2": 1, "oxygen_supplement": 0, "bp_systolic": 1, "pulse": 1,
                                 "consciousness": 0, "temperature": 1}
    assert doc["inputs"]["pulse"]["metric"] == "pulse_rate" and doc["inputs"]["resp_rate"]["value"] == 22
    assert doc["inputs"]["spo2"]["source"] == "manual"
    add(api, eid, {"metric": "consciousness", "value": "V"})  # a new confusion: a red score
    red = api.client.get(f"{E}/{eid}/news2", headers=api.crew).json()
    assert (red["total"], red["risk"], red["red_score"]) == (9, "high", True)


def test_news2_is_not_scored_under_16(api: Api) -> None:
    eid = api.encounter(patient={"estimated_age": 12})["id"]
    for metric, value in NEWS2_SET:
        add(api, eid, {"metric": metric, "value": value})
    doc = api.client.get(f"{E}/{eid}/news2", headers=api.crew).json()
    assert doc["total"] is None and doc["risk"] is None and doc["inputs"] == {}
    assert doc["warning"] == "patient is 12: NEWS2 does not apply under 16"


def test_a_new_observation_is_published_with_its_news2(api: Api) -> None:
    eid = api.encounter()["id"]
    seq = api.services.hub.recent[-1].id
    obs = add(api, eid, {"metric": "spo2", "value": 93})
    published = [(kind_of(e.event), msgspec.to_builtins(e.event)) for e in api.services.hub.recent if e.id > seq]
    assert published[0] == ("observation", {"kind": "observation", **obs})
    # The vitals and the NEWS2 scored from them, in one event (the cab screen draws both from it) ...
    assert published[1][0] == "vitals" and published[1][1]["encounter_id"] == eid
    assert published[1][1]["vitals"]["spo2"]["value"] == 93 and published[1][1]["news2"]["parameters"]["spo2"] == 2
    # ... and the score alone, as before, since it changed.
    assert published[2][0] == "news2" and published[2][1]["encounter_id"] == eid
    assert published[2][1]["parameters"]["spo2"] == 2


@pytest.mark.parametrize(("body", "words"), [
    ({"metric": "heart_rat", "value": 80}, "field: body.metric"),
    ({"metric": "heart_rate", "value": 900}, "heart_rate: 900 is outside 0..350 /min"),
    ({"metric": "heart_rate", "value": "fast"}, "heart_rate: value must be a number"),
    ({"metric": "heart_rate", "value": True}, "heart_rate: value must be a number"),
    ({"metric": "temperature", "value": 102, "unit": "[degF]"}, "temperature: unit must be 'Cel'"),
    ({"metric": "consciousness", "value": "X"}, "consciousness: value must be one of A, C, V, P, U"),
    ({"metric": "oxygen_supplement", "value": 1}, "oxygen_supplement: value must be true or false"),
    ({"metric": "gcs_eye", "value": 2.5}, "gcs_eye: value must be a whole number"),
    ({"metric": "gcs_eye", "value": "none"}, "gcs_eye: value must be a score or \"NT\""),
    ({"metric": "spo2", "value": 97, "time": "yesterday"}, "field: body.time"),
    ({"metric": "spo2", "value": 97, "time": "2026-11-23T10:00:00"}, "field: body.time"),
    ({"metric": "spo2", "value": 97, "time": 4_102_444_800_000}, "time: is in the future"),
    ({"metric": "spo2", "value": 97, "time": 1_000_000_000_000}, "time: is more than 24 h ago"),
    ({"metric": "spo2", "value": 97, "colour": "red"}, "colour"),
    ({"metric": "spo2"}, "value"),
    ({"metric": "consciousness", "value": "ALERT AND"}, "body.value"),  # longer than any answer
])
def test_bad_manual_entries_are_422_naming_the_field(shared_api: Api, body: Any, words: str) -> None:
    eid = shared_api.encounter()["id"]
    r = shared_api.client.post(f"{E}/{eid}/observations", json=body, headers=shared_api.crew)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"] or words in str(r.json().get("errors")), r.text
    assert shared_api.client.get(f"{E}/{eid}/observations", headers=shared_api.crew).json() == []


@pytest.mark.parametrize(("body", "words"), [
    ({"eye": 5, "verbal": 5, "motor": 6}, "body.eye"),
    ({"eye": 4, "verbal": 0, "motor": 6}, "body.verbal"),
    ({"eye": 4, "verbal": 5}, "motor"),
    ({"eye": 4, "verbal": 5, "motor": "untestable"}, "body.motor"),
    ({"eye": 4, "verbal": 5, "motor": 6, "time": 4_102_444_800_000}, "time: is in the future"),
])
def test_bad_gcs_is_422_naming_the_field(shared_api: Api, body: Any, words: str) -> None:
    eid = shared_api.encounter()["id"]
    r = shared_api.client.post(f"{E}/{eid}/gcs", json=body, headers=shared_api.crew)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"] or words in str(r.json().get("errors")), r.text
    assert shared_api.client.get(f"{E}/{eid}/observations", headers=shared_api.crew).json() == []


@pytest.mark.parametrize(("path", "params"), [
    (f"{E}/{{eid}}/observations", {"metric": "pulse"}), (f"{E}/{{eid}}/observations", {"after": -1}),
    (f"{E}/{{eid}}/observations", {"limit": 0}), (f"{E}/{{eid}}/observations", {"limit": 10_001}),
    ("/api/v1/observations", {"unassigned": "perhaps"}), ("/api/v1/observations", {"device": "x" * 33}),
    ("/api/v1/observations", {"after": 2**53 + 1}),
])
def test_bad_listing_parameters_are_422(shared_api: Api, path: str, params: dict[str, Any]) -> None:
    eid = shared_api.encounter()["id"]
    r = shared_api.client.get(path.format(eid=eid), params=params, headers=shared_api.crew)
    assert r.status_code == 422, r.text
    assert next(iter(params)) in r.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/observations", {"metric": "spo2", "value": 90}), ("GET", "/observations", None),
    ("POST", "/gcs", {"eye": 4, "verbal": 5, "motor": 6}), ("GET", "/news2", None),
])
def test_an_unknown_encounter_is_404(shared_api: Api, method: str, path: str, body: Any) -> None:
    missing = str(uuid.uuid4())
    r = shared_api.client.request(method, f"{E}/{missing}{path}", json=body, headers=shared_api.crew)
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": f"encounter {missing} not found"}


@pytest.mark.parametrize(("body", "words"), [
    ({"metric": "resp_rate", "value": 22.5}, "resp_rate: value must be a whole number"),
    ({"metric": "spo2", "value": 95.5}, "spo2: value must be a whole number"),
    ({"metric": "bp_systolic", "value": 120.4}, "bp_systolic: value must be a whole number"),
    ({"metric": "pulse_rate", "value": 80.2}, "pulse_rate: value must be a whole number"),
    ({"metric": "heart_rate", "value": 0.5}, "heart_rate: value must be a whole number"),
    ({"metric": "temperature", "value": 37.25}, "temperature: give at most one decimal"),
])
def test_manual_values_at_the_charts_resolution(api: Api, body: dict[str, Any], words: str) -> None:
    eid = api.encounter()["id"]
    r = api.client.post(f"{E}/{eid}/observations", json=body, headers=api.crew)
    assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert api.client.get(f"{E}/{eid}/observations", headers=api.crew).json() == []


@pytest.mark.parametrize(("metric", "value"), [("temperature", 37.2), ("temperature", 38), ("resp_rate", 22.0),
                                               ("spo2", 94)])
def test_values_at_the_charts_resolution_are_taken(api: Api, metric: str, value: float) -> None:
    eid = api.encounter()["id"]
    assert add(api, eid, {"metric": metric, "value": value})["value"] == value


def test_a_systolic_not_above_its_diastolic_is_refused_either_way_round(api: Api) -> None:
    eid = api.encounter()["id"]
    at = now_ms() - 60_000
    add(api, eid, {"metric": "bp_systolic", "value": 80, "time": at})
    r = api.client.post(f"{E}/{eid}/observations", json={"metric": "bp_diastolic", "value": 90, "time": at},
                        headers=api.crew)
    assert r.status_code == 422 and "systolic (80) must be above its diastolic (90)" in r.json()["detail"]
    add(api, eid, {"metric": "bp_diastolic", "value": 50, "time": at})
    r = api.client.post(f"{E}/{eid}/observations", json={"metric": "bp_systolic", "value": 45, "time": at + 1000},
                        headers=api.crew)
    assert r.status_code == 422 and "systolic (45) must be above its diastolic (50)" in r.json()["detail"]
    # a diastolic of another measurement (over 2 minutes apart) is not its pair
    add(api, eid, {"metric": "bp_systolic", "value": 45, "time": at + 3 * 60_000 + 1000})


def test_a_gcs_total_contradicting_newer_components_is_refused(api: Api) -> None:
    eid = api.encounter()["id"]
    at = now_ms() - 10 * 60_000
    r = api.client.post(f"{E}/{eid}/gcs", json={"eye": 4, "verbal": 4, "motor": 6, "time": at}, headers=api.crew)
    assert r.status_code == 201
    r = api.client.post(f"{E}/{eid}/observations", json={"metric": "gcs_total", "value": 12, "time": at - 60_000},
                        headers=api.crew)
    assert r.status_code == 422 and "E4 V4 M6 = 14" in r.json()["detail"], r.text
    # the same total is no contradiction, and a total newer than the components is a new assessment
    add(api, eid, {"metric": "gcs_total", "value": 14, "time": at - 60_000})
    add(api, eid, {"metric": "gcs_total", "value": 12, "time": at + 60_000})
