"""Encounters: create, list, read with its ETag, change (If-Match, field-level conflicts), time stamps,
medications, interventions, notes and the history of changes; and each route's refusals."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.edge_app.api.conftest import TOKEN_NAMES, Api, now_ms

E = "/api/v1/encounters"


def test_create_opens_the_active_encounter(api: Api) -> None:
    before = now_ms()
    r = api.client.post(E, json={"incident_ref": "  INC-2026-001 "}, headers=api.crew)
    assert r.status_code == 201, r.text
    enc = r.json()
    assert uuid.UUID(enc["id"]).version == 4
    assert before <= enc["created_at"] == enc["updated_at"] <= now_ms()
    assert {k: enc[k] for k in ("incident_ref", "status", "spo2_scale", "version", "active", "observation_count",
                                "complaint", "injuries", "medications_given", "interventions", "notes")} == {
        "incident_ref": "INC-2026-001", "status": "open", "spo2_scale": 1, "version": 1, "active": True,
        "observation_count": 0, "complaint": None, "injuries": None, "medications_given": [], "interventions": [],
        "notes": []}
    assert enc["patient"] == {"name": None, "date_of_birth": None, "estimated_age": None, "sex": None,
                              "nhs_number": None, "allergies": [], "medications": [], "history": None}
    assert set(enc["times"]) == {"call", "mobile", "at_scene", "at_patient", "left_scene", "at_hospital",
                                 "handover", "clear"} and not any(enc["times"].values())
    assert api.client.post(E, json={}, headers=api.crew).json()["incident_ref"] == ""


def test_list_is_newest_first_and_filters(api: Api) -> None:
    first, second, third = (api.encounter(f"INC-{i}") for i in range(3))
    api.client.patch(f"{E}/{second['id']}", json={"status": "closed"}, headers=api.crew)
    listed = api.client.get(E, headers=api.crew).json()
    assert [e["id"] for e in listed] == [third["id"], second["id"], first["id"]]
    assert [e["active"] for e in listed] == [True, False, False], "the newest open one is active"
    assert [e["id"] for e in api.client.get(E, params={"status": "closed"}, headers=api.crew).json()] == [
        second["id"]]
    assert [e["id"] for e in api.client.get(E, params={"limit": 1}, headers=api.crew).json()] == [third["id"]]


def test_get_has_the_version_as_etag(api: Api) -> None:
    enc = api.encounter()
    r = api.client.get(f"{E}/{enc['id']}", headers=api.crew)
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    assert r.json() == enc
    changed = api.client.patch(f"{E}/{enc['id']}", json={"complaint": "chest pain"}, headers=api.crew)
    assert changed.headers["etag"] == '"2"'
    assert api.client.get(f"{E}/{enc['id']}", headers=api.crew).headers["etag"] == '"2"'


def test_patch_without_if_match_sets_fields(api: Api) -> None:
    eid = api.encounter()["id"]
    patch = {"complaint": " chest pain ", "injuries": "none", "spo2_scale": 2,
             "patient": {"name": "  Ann Smith ", "sex": "female", "date_of_birth": "1960-02-29",
                         "nhs_number": "943 476 5919", "allergies": ["penicillin", " ", " latex "],
                         "history": ""}}
    r = api.client.patch(f"{E}/{eid}", json=patch, headers=api.crew)
    assert r.status_code == 200, r.text
    enc = r.json()
    assert (enc["version"], enc["complaint"], enc["injuries"], enc["spo2_scale"]) == (2, "chest pain", "none", 2)
    assert enc["patient"] == {"name": "Ann Smith", "date_of_birth": "1960-02-29", "estimated_age": None,
                              "sex": "female", "nhs_number": "9434765919", "allergies": ["penicillin", "latex"],
                              "medications": [], "history": None}
    again = api.client.patch(f"{E}/{eid}", json=patch, headers=api.crew).json()
    assert again["version"] == 2, "nothing changed: no new version"
    cleared = api.client.patch(f"{E}/{eid}", json={"patient": {"name": None}}, headers=api.crew).json()
    assert cleared["patient"]["name"] is None and cleared["patient"]["sex"] == "female"


def test_patch_with_if_match_conflicts_only_on_fields_changed_since(api: Api) -> None:
    eid = api.encounter()["id"]
    ok = api.client.patch(f"{E}/{eid}", json={"complaint": "fall"}, headers={**api.crew, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    other = api.client.patch(f"{E}/{eid}", json={"injuries": "wrist"}, headers={**api.crew, "If-Match": 'W/"1"'})
    assert other.status_code == 200 and other.json()["version"] == 3, "a different field: no conflict"
    r = api.client.patch(f"{E}/{eid}", json={"complaint": "collapse", "injuries": "hip"},
                         headers={**api.crew, "If-Match": '"1"'})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["fields"] == ["complaint", "injuries"]
    assert body["current"]["version"] == 3 and body["current"]["complaint"] == "fall"
    assert body["current"]["active"] is True, "current is the record as GET shows it"
    assert "version 3" in body["detail"]
    assert api.client.get(f"{E}/{eid}", headers=api.crew).json()["complaint"] == "fall", "nothing was stored"
    fresh = api.client.patch(f"{E}/{eid}", json={"complaint": "collapse"}, headers={**api.crew, "If-Match": '"3"'})
    assert fresh.status_code == 200 and fresh.json()["complaint"] == "collapse"


def test_status_goes_forward_only_and_closed_is_final(api: Api) -> None:
    eid = api.encounter()["id"]
    handed = api.client.patch(f"{E}/{eid}", json={"status": "handed_over"}, headers=api.crew).json()
    assert handed["status"] == "handed_over" and handed["active"] is False
    back = api.client.patch(f"{E}/{eid}", json={"status": "open"}, headers=api.crew)
    assert back.status_code == 409 and "handed_over -> open" in back.json()["detail"]
    assert api.client.patch(f"{E}/{eid}", json={"status": "closed"}, headers=api.crew).status_code == 200
    for method, path, body in [("PATCH", "", {"complaint": "late"}), ("POST", "/notes", {"text": "late"}),
                               ("POST", "/times/clear", None), ("POST", "/interventions", {"what": "splint"}),
                               ("POST", "/medications", {"drug": "x", "dose": 1, "unit": "mg", "route": "IV"}),
                               ("POST", "/observations", {"metric": "spo2", "value": 97}),
                               ("POST", "/gcs", {"eye": 4, "verbal": 5, "motor": 6})]:
        r = api.client.request(method, f"{E}/{eid}{path}", json=body, headers=api.crew)
        assert r.status_code == 409, (path, r.text)
        assert "closed" in r.json()["detail"], path
    assert api.client.get(f"{E}/{eid}", headers=api.crew).json()["version"] == 3


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_times_stamp_now_or_a_given_time(api: Api) -> None:
    eid = api.encounter()["id"]
    before = now_ms()
    r = api.client.post(f"{E}/{eid}/times/at_scene", headers=api.crew)
    assert r.status_code == 200, r.text
    assert before <= r.json()["times"]["at_scene"] <= now_ms()
    earlier = now_ms() - 600_000
    assert api.client.post(f"{E}/{eid}/times/call", json={"time": earlier},
                           headers=api.crew).json()["times"]["call"] == earlier
    r = api.client.post(f"{E}/{eid}/times/mobile", json={"time": iso(earlier + 60_000)}, headers=api.crew)
    assert r.json()["times"]["mobile"] == earlier + 60_000 and r.json()["version"] == 4
    patched = api.client.patch(f"{E}/{eid}", json={"times": {"call": None, "clear": earlier}}, headers=api.crew)
    assert patched.json()["times"]["call"] is None and patched.json()["times"]["clear"] == earlier


@pytest.mark.parametrize(("which", "body", "words"), [
    ("at_scene", {"time": 4_102_444_800_000}, "times.at_scene: is in the future"),
    ("at_scene", {"time": "2020-01-01T00:00:00Z"}, "times.at_scene: is more than 24 h ago"),
    ("at_scene", {"time": "2026-11-23T10:00:00"}, "body.time"),  # no UTC offset
    ("at_scene", {"when": 1}, "when"),
    ("teatime", None, "which"),
])
def test_times_refusals(shared_api: Api, which: str, body: Any, words: str) -> None:
    eid = shared_api.encounter()["id"]
    r = shared_api.client.post(f"{E}/{eid}/times/{which}", json=body, headers=shared_api.crew)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"]


def test_medications_interventions_and_notes_append_to_the_record(api: Api) -> None:
    eid = api.encounter()["id"]
    at = now_ms() - 120_000
    med = api.client.post(f"{E}/{eid}/medications", json={"drug": " aspirin ", "dose": 300, "unit": "mg",
                                                          "route": "oral", "time": at, "given_by": "P. Jones"},
                          headers=api.crew)
    assert med.status_code == 201, med.text
    assert {k: v for k, v in med.json().items() if k != "id"} == {
        "drug": "aspirin", "dose": 300, "unit": "mg", "route": "oral", "time": at, "given_by": "P. Jones",
        "entered_by": TOKEN_NAMES["crew"]}
    act = api.client.post(f"{E}/{eid}/interventions", json={"what": "splint left wrist"}, headers=api.technician)
    assert act.status_code == 201 and act.json()["what"] == "splint left wrist" and act.json()["by"] is None
    assert act.json()["entered_by"] == TOKEN_NAMES["technician"]
    note = api.client.post(f"{E}/{eid}/notes", json={"text": "  family informed "}, headers=api.crew)
    assert note.status_code == 201 and note.json()["text"] == "family informed"
    enc = api.client.get(f"{E}/{eid}", headers=api.crew).json()
    assert enc["version"] == 4
    assert enc["medications_given"] == [med.json()] and enc["interventions"] == [act.json()]
    assert enc["notes"] == [note.json()]
    assert len({med.json()["id"], act.json()["id"], note.json()["id"]}) == 3


@pytest.mark.parametrize(("path", "body", "words"), [
    ("medications", {"drug": "  ", "dose": 1, "unit": "mg", "route": "IV"}, "drug: must not be blank"),
    ("medications", {"drug": "x", "dose": 0, "unit": "mg", "route": "IV"}, "body.dose"),
    ("medications", {"drug": "x", "dose": 1, "unit": "mg"}, "route"),
    ("medications", {"drug": "x", "dose": 1, "unit": "mg", "route": "IV", "time": 4_102_444_800_000}, "future"),
    ("interventions", {"what": " "}, "what: must not be blank"),
    ("interventions", {"what": "x" * 201}, "body.what"),
    ("notes", {"text": "\t"}, "text: must not be blank"),
    ("notes", {"text": "x", "colour": "red"}, "colour"),
])
def test_append_refusals_name_the_field(shared_api: Api, path: str, body: dict[str, Any], words: str) -> None:
    eid = shared_api.encounter()["id"]
    r = shared_api.client.post(f"{E}/{eid}/{path}", json=body, headers=shared_api.crew)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"] or words in str(r.json().get("errors"))
    assert shared_api.client.get(f"{E}/{eid}", headers=shared_api.crew).json()["version"] == 1


def test_events_are_every_change_in_order(api: Api) -> None:
    eid = api.encounter("INC-7")["id"]
    api.client.patch(f"{E}/{eid}", json={"complaint": "fall", "patient": {"sex": "male"}}, headers=api.crew)
    api.client.post(f"{E}/{eid}/notes", json={"text": "n"}, headers=api.technician)
    events = api.client.get(f"{E}/{eid}/events", headers=api.crew).json()
    assert [(e["version"], e["kind"], e["path"], e["actor"]) for e in events] == [
        (1, "create", None, TOKEN_NAMES["crew"]), (2, "set", "complaint", TOKEN_NAMES["crew"]),
        (2, "set", "patient.sex", TOKEN_NAMES["crew"]), (3, "append", "notes", TOKEN_NAMES["technician"])]
    assert events[0]["value"] == {"incident_ref": "INC-7"} and events[1]["value"] == "fall"
    assert events[3]["value"]["text"] == "n"
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)


@pytest.mark.parametrize(("body", "words"), [
    ({"status": "lost"}, "body.status"),
    ({"spo2_scale": 3}, "body.spo2_scale"),
    ({"patient": {"date_of_birth": "2999-01-01"}}, "patient.date_of_birth: is in the future"),
    ({"patient": {"date_of_birth": "1800-01-01"}}, "more than 130 years ago"),
    ({"patient": {"date_of_birth": "2001-02-30"}}, "patient.date_of_birth: '2001-02-30' is not a date"),
    ({"patient": {"nhs_number": "943 476 5918"}}, "patient.nhs_number: NHS number check digit is wrong"),
    ({"patient": {"estimated_age": 131}}, "estimated_age"),
    ({"patient": {"sex": "x"}}, "sex"),
    ({"patient": {"shoe_size": 9}}, "shoe_size"),
    ({"incident_ref": "<script>"}, "body.incident_ref"),
    ({"times": {"at_scene": "yesterday"}}, "at_scene"),
    ({"version": 7}, "version"),
])
def test_patch_refusals_name_the_field(shared_api: Api, body: dict[str, Any], words: str) -> None:
    eid = shared_api.encounter()["id"]
    r = shared_api.client.patch(f"{E}/{eid}", json=body, headers=shared_api.crew)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"] or words in str(r.json().get("errors")), r.text
    assert shared_api.client.get(f"{E}/{eid}", headers=shared_api.crew).json()["version"] == 1


@pytest.mark.parametrize("tag", ["abc", "1.0", '"-1"', '"1234567890123"', "*"])
def test_a_bad_if_match_is_400(shared_api: Api, tag: str) -> None:
    eid = shared_api.encounter()["id"]
    r = shared_api.client.patch(f"{E}/{eid}", json={"complaint": "x"}, headers={**shared_api.crew, "If-Match": tag})
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("If-Match: expected the encounter's version number")


def test_bad_json_is_400_and_a_wrong_shape_422(api: Api) -> None:
    eid = api.encounter()["id"]
    for path, method in [(E, "POST"), (f"{E}/{eid}", "PATCH"), (f"{E}/{eid}/notes", "POST")]:
        r = api.client.request(method, path, content=b"{not json", headers={**api.crew,
                                                                           "content-type": "application/json"})
        assert r.status_code == 400 and "JSON is malformed" in r.json()["detail"], (path, r.text)
        r = api.client.request(method, path, json=[1, 2], headers=api.crew)
        assert r.status_code == 422, (path, r.text)
    r = api.client.post(E, content=b'{"incident_ref": "\xff"}', headers=api.crew)
    assert r.status_code == 400 and r.json() == {"detail": "request body is not UTF-8"}


def test_a_body_over_64_kib_is_413(api: Api) -> None:
    eid = api.encounter()["id"]
    big = b'{"text": "' + b"x" * (64 * 1024) + b'"}'
    r = api.client.post(f"{E}/{eid}/notes", content=big, headers={**api.crew, "content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert "detail" in r.json()
    assert api.client.get(f"{E}/{eid}", headers=api.crew).json()["notes"] == []


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "", None), ("PATCH", "", {"complaint": "x"}), ("POST", "/times/at_scene", None),
    ("POST", "/medications", {"drug": "x", "dose": 1, "unit": "mg", "route": "IV"}),
    ("POST", "/interventions", {"what": "x"}), ("POST", "/notes", {"text": "x"}), ("GET", "/events", None),
])
def test_an_unknown_encounter_is_404_and_a_malformed_id_422(shared_api: Api, method: str, path: str, body: Any) -> None:
    missing = str(uuid.uuid4())
    r = shared_api.client.request(method, f"{E}/{missing}{path}", json=body, headers=shared_api.crew)
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": f"encounter {missing} not found"}
    r = shared_api.client.request(method, f"{E}/INC-1{path}", json=body, headers=shared_api.crew)
    assert r.status_code == 422 and "encounter_id" in r.json()["detail"], r.text


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"status": "lost"}, {"limit": "many"}])
def test_list_refusals(shared_api: Api, params: dict[str, Any]) -> None:
    r = shared_api.client.get(E, params=params, headers=shared_api.crew)
    assert r.status_code == 422, r.text
    assert next(iter(params)) in r.json()["detail"]


def test_methods_a_path_does_not_have_are_405_with_allow(api: Api) -> None:
    eid = api.encounter()["id"]
    r = api.client.put(f"{E}/{eid}", json={}, headers=api.crew)
    assert r.status_code == 405 and r.headers["allow"] == "GET, OPTIONS, PATCH"
    r = api.client.delete(E, headers=api.crew)
    assert r.status_code == 405 and r.headers["allow"] == "GET, OPTIONS, POST"
    assert "detail" in r.json()


def test_an_if_match_newer_than_the_record_is_taken_as_current(api: Api) -> None:
    """Today's answer, surprising: a version nobody could have read (the record is at 1) is no conflict."""
    eid = api.encounter()["id"]
    r = api.client.patch(f"{E}/{eid}", json={"complaint": "x"}, headers={**api.crew, "If-Match": '"99"'})
    assert r.status_code == 200 and r.json()["version"] == 2


def test_an_if_match_of_other_digits_is_400_not_a_crash(shared_api: Api) -> None:
    eid = shared_api.encounter()["id"]
    headers = {**shared_api.crew, "If-Match": "\xb2", "Content-Type": "application/json"}
    with shared_api.exchange("PATCH", f"{E}/{eid}", headers, body=b'{"complaint": "x"}') as x:
        assert x.status == 400, x.body()


def test_a_refused_parameter_is_named_like_a_body_field(shared_api: Api) -> None:
    r = shared_api.client.get(E, params={"limit": 0}, headers=shared_api.crew)
    assert r.status_code == 422 and r.json()["detail"].endswith("(field: query.limit)"), r.text


def test_onset_is_set_cleared_and_said_at_handover(api: Api) -> None:
    eid = api.encounter()["id"]
    at = now_ms() - 3 * 86_400_000  # "since Thursday": days before the call is fine
    r = api.client.patch(f"{E}/{eid}", json={"onset": at}, headers=api.crew)
    assert r.status_code == 200 and r.json()["onset"] == at
    text = api.client.get(f"{E}/{eid}/handover", headers=api.crew).text
    assert text.splitlines()[2].startswith("T  onset ")
    for bad, words in ((now_ms() - 32 * 86_400_000, "onset: is more than 31 days ago"),
                       (now_ms() + 3_600_000, "onset: is in the future")):
        r = api.client.patch(f"{E}/{eid}", json={"onset": bad}, headers=api.crew)
        assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert api.client.patch(f"{E}/{eid}", json={"onset": None}, headers=api.crew).json()["onset"] is None
    assert "T  onset not recorded, so from the call" in api.client.get(f"{E}/{eid}/handover", headers=api.crew).text
