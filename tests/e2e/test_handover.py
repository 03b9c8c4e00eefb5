"""Handover from a real daemon: a FHIR R4 Bundle that validates, and ATMIST text, with device readings in."""
from __future__ import annotations

import json
from pathlib import Path

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from tests.e2e.harness import Daemon, Proc, Simulator, wait_for, write_config


def test_fhir_bundle_and_atmist_for_a_real_job(root: Path, procs: list[Proc]) -> None:
    link = root / "tty0"
    procs.append(Simulator("masimo-ascii", link, root / "sim.log", rate=10))
    d = Daemon(write_config(root, [("oximeter", "masimo-ascii", link)]), root)
    procs.append(d)
    d.wait_ready()
    with d.client() as c:
        eid = c.post("/api/v1/encounters", json={"incident_ref": "INC-2026-0042"}).json()["id"]
        c.patch(f"/api/v1/encounters/{eid}", json={
            "complaint": "shortness of breath",
            "patient": {"name": "Ann Example", "date_of_birth": "1950-05-17", "sex": "female",
                        "nhs_number": "943 476 5919", "allergies": ["penicillin"]}})
        c.post(f"/api/v1/encounters/{eid}/times/at_scene")
        for metric, value in (("resp_rate", 24), ("bp_systolic", 104), ("bp_diastolic", 66), ("temperature", 38.4),
                              ("consciousness", "A"), ("oxygen_supplement", True)):
            assert c.post(f"/api/v1/encounters/{eid}/observations",
                          json={"metric": metric, "value": value}).status_code == 201
        c.post(f"/api/v1/encounters/{eid}/gcs", json={"eye": 4, "verbal": 5, "motor": 6})
        c.post(f"/api/v1/encounters/{eid}/medications", json={"drug": "salbutamol", "dose": 5, "unit": "mg",
                                                              "route": "nebulised"})
        wait_for(lambda: len(c.get(f"/api/v1/encounters/{eid}/observations", params={"metric": "spo2", "resolution": "raw"}).json()) >= 3,
                 10, "oximeter readings on the encounter")
        assert c.get(f"/api/v1/encounters/{eid}").json()["patient"]["nhs_number"] == "9434765919"
        # The monitor's values enter the record when charted: at once on the first vitals tick, every 5 min,
        # or when asked (k) as here, so the Bundle surely has them.
        assert c.post(f"/api/v1/encounters/{eid}/chart").status_code == 201
        r = c.get(f"/api/v1/encounters/{eid}/fhir")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
        bundle = r.json()
        atmist = c.get(f"/api/v1/encounters/{eid}/handover").text
        summary = c.get(f"/api/v1/encounters/{eid}/handover", params={"format": "summary"}).text
        bad_nhs = c.patch(f"/api/v1/encounters/{eid}", json={"patient": {"nhs_number": "9434765918"}})
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert {"Patient", "Encounter", "Device", "Observation", "MedicationAdministration"} <= set(types)
    ids_and_urls = json.dumps([[e["fullUrl"], e["resource"]["id"], e.get("request", {}).get("url")]
                               for e in bundle["entry"]])
    for secret in ("Ann", "Example", "9434765919", "1950", "INC-2026-0042"):
        assert secret not in ids_and_urls
    spo2 = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
            and any(c["code"] == "59408-5" for c in e["resource"]["code"]["coding"])]
    assert spo2 and spo2[0]["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    assert spo2[0]["category"][0]["coding"][0]["code"] == "vital-signs"
    assert spo2[0]["device"]["reference"].startswith("urn:uuid:")
    assert "salbutamol" in atmist and "NEWS2" in atmist and "GCS 15" in atmist
    assert "penicillin" in summary
    assert bad_nhs.status_code == 422 and "nhs_number" in bad_nhs.json()["detail"]
    assert "9434765918" not in bad_nhs.text, "the rejected number is not echoed back"


def test_export_and_audit_verify_from_the_command_line(root: Path, procs: list[Proc]) -> None:
    import sqlite3

    cfg = write_config(root)
    d = Daemon(cfg, root)
    procs.append(d)
    d.wait_ready()
    with d.client() as c:
        eid = c.post("/api/v1/encounters", json={"incident_ref": "INC-1"}).json()["id"]
        c.patch(f"/api/v1/encounters/{eid}", json={"complaint": "fall from ladder"})
    out = root / "bundle.json"
    p = Proc(["export", eid, "--format", "fhir", "--out", str(out), "--config", str(cfg)], root / "export.log")
    assert p.p.wait(30) == 0, p.output()
    assert json.loads(out.read_text())["resourceType"] == "Bundle"
    p = Proc(["export", eid, "--config", str(cfg)], root / "atmist.log")
    assert p.p.wait(30) == 0 and "fall from ladder" in p.output()
    p = Proc(["export", "not-an-id", "--config", str(cfg)], root / "bad.log")
    assert p.p.wait(30) == 2 and "is not an encounter id" in p.output()
    p = Proc(["audit", "verify", "--config", str(cfg)], root / "verify.log")
    assert p.p.wait(30) == 0 and "chain intact" in p.output(), p.output()
    d.terminate()
    con = sqlite3.connect(root / "edge.db")
    con.execute("UPDATE audit_log SET actor = 'nobody' WHERE id = 2")
    con.commit()
    con.close()
    p = Proc(["audit", "verify", "--config", str(cfg)], root / "verify2.log")
    assert p.p.wait(30) == 1 and "BROKEN at row 2" in p.output()
