"""Handover documents: ATMIST and the written summary as text, the record as a FHIR R4 transaction Bundle;
each read is audited, and an unknown encounter is 404."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.edge_app.api.conftest import TOKEN_NAMES, Api

E = "/api/v1/encounters"
VITALS = [("resp_rate", 22), ("spo2", 95), ("oxygen_supplement", False), ("bp_systolic", 105),
          ("pulse_rate", 95), ("consciousness", "A"), ("temperature", 38.5)]


@pytest.fixture
def record(api: Api) -> str:
    """An encounter with something in every part of the handover."""
    eid = api.encounter("INC-42", complaint="chest pain", injuries="none",
                        patient={"sex": "female", "estimated_age": 67, "allergies": ["penicillin"]})["id"]
    for path, body in [("times/call", None), ("times/at_patient", None),
                       *((("observations", {"metric": m, "value": v}) for m, v in VITALS)),
                       ("medications", {"drug": "aspirin", "dose": 300, "unit": "mg", "route": "oral"}),
                       ("interventions", {"what": "12-lead ECG"}), ("notes", {"text": "husband present"})]:
        r = api.client.post(f"{E}/{eid}/{path}", json=body, headers=api.crew)
        assert r.status_code in (200, 201), r.text
    return eid


def audited(api: Api, action: str, eid: str) -> list[dict[str, Any]]:
    """Audit rows of one action on one encounter: the reads' rows are committed with the next write."""
    api.write(lambda db: None)
    rows = api.services.store.reader.db.execute("SELECT actor, detail FROM audit_log WHERE action = ? AND object = ?",
                                     (action, eid)).fetchall()
    return [{"actor": a, "detail": d} for a, d in rows]


def test_atmist_is_text_to_read_aloud(api: Api, record: str) -> None:
    r = api.client.get(f"{E}/{record}/handover", headers=api.crew)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    lines = r.text.splitlines()
    assert [line[:1] for line in lines if line[:1].strip()] == list("ATMIST")
    assert lines[0] == "A  Age ~67 (estimated), female; NHS number not recorded"
    assert lines[1].startswith("   Allergies: penicillin; regular medications: ")
    assert "M  Mechanism/complaint: chest pain" in lines and "I  Injuries: none" in lines
    assert "   SpO2 95% on air (just now)" in lines
    assert any(line.strip().startswith("NEWS2 6 medium") for line in lines)
    assert any("aspirin 300 mg oral" in line for line in lines) and any("12-lead ECG" in line for line in lines)
    assert r.text == api.client.get(f"{E}/{record}/handover", params={"format": "atmist"}, headers=api.crew).text


def test_summary_is_the_whole_record_in_writing(api: Api, record: str) -> None:
    r = api.client.get(f"{E}/{record}/handover", params={"format": "summary"}, headers=api.crew)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert text.startswith("HANDOVER SUMMARY  incident INC-42  status open")
    for heading in ("PATIENT", "TIMES", "PRESENTATION", "NEWS2", "OBSERVATIONS", "GCS", "MEDICATIONS GIVEN",
                    "INTERVENTIONS", "NOTES"):
        assert f"\n{heading}" in text, heading
    assert "Allergies: penicillin" in text and "husband present (tablet-crew)" in text
    assert "Response: key threshold for urgent response" in text


def test_fhir_is_a_transaction_bundle_of_the_record(api: Api, record: str) -> None:
    r = api.client.get(f"{E}/{record}/fhir", headers=api.crew)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    bundle = r.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Patient") == 1 and kinds.count("Encounter") == 1
    assert {"AllergyIntolerance", "MedicationAdministration", "Procedure"} <= set(kinds)
    assert kinds.count("Observation") >= len(VITALS)
    for entry in bundle["entry"]:
        res = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"{res['resourceType']}/{res['id']}"}
        assert entry["fullUrl"] == f"urn:uuid:{res['id']}" and uuid.UUID(res["id"]).version == 5
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert patient["gender"] == "female"
    again = api.client.get(f"{E}/{record}/fhir", headers=api.crew).json()
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in bundle["entry"]], "stable ids"


def test_every_export_is_audited_with_its_reader(api: Api, record: str) -> None:
    api.client.get(f"{E}/{record}/fhir", headers=api.technician)
    api.client.get(f"{E}/{record}/handover", params={"format": "summary"}, headers=api.crew)
    rows = audited(api, "encounter.export", record)
    assert rows == [{"actor": TOKEN_NAMES["technician"], "detail": '{"format":"fhir"}'},
                    {"actor": TOKEN_NAMES["crew"], "detail": '{"format":"summary"}'}]


@pytest.mark.parametrize("path", ["/fhir", "/handover", "/handover?format=summary"])
def test_an_unknown_encounter_is_404(shared_api: Api, path: str) -> None:
    missing = str(uuid.uuid4())
    r = shared_api.client.get(f"{E}/{missing}{path}", headers=shared_api.crew)
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": f"encounter {missing} not found"}


def test_an_unknown_format_is_422_naming_it(shared_api: Api) -> None:
    eid = shared_api.encounter()["id"]
    r = shared_api.client.get(f"{E}/{eid}/handover", params={"format": "pdf"}, headers=shared_api.crew)
    assert r.status_code == 422, r.text
    assert "format" in r.json()["detail"]
