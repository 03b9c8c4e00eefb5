"""FHIR R4 mapping: the bundle parses with fhir.resources, codes follow the contract, ids leak nothing.

fhir.resources 8.x has no R4 package: its R4B package (4.3.0) is used, which for every resource
this bundle holds is structurally the same as R4 4.0.1 (HL7's R4B notes: only the medication
definition, evidence and subscription modules changed). It checks structure, cardinality and
types, not terminology bindings or invariants, so the tests below check the codes themselves.
"""
from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from msgspec.structs import replace

from edge_app.clinical.fhir import encounter_bundle, iso
from edge_app.clinical.fhir_codes import CATEGORY, LOINC_DISPLAY
from edge_app.model.devices import KnownDevice
from edge_app.model.encounter import EncounterRecord, Intervention, MedicationGiven, Note, Patient, Times
from edge_app.model.observation import Observation
from firmware_bridge.metrics import METRICS, Metric
from tests.edge_app.clinical.records import MIN, T0, obs, record

NS = uuid.UUID("6f1c1f1e-8d7a-4a43-9f1e-2d4b5a6c7d8e")
LOINC, UCUM, SNOMED = "http://loinc.org", "http://unitsofmeasure.org", "http://snomed.info/sct"
VITAL = "http://terminology.hl7.org/CodeSystem/observation-category"


def id_for(key: str, ns: uuid.UUID = NS) -> str:
    return str(uuid.uuid5(ns, key))


def make_record(**patient: Any) -> EncounterRecord:
    """Journey 1: a 67-year-old man with COPD and a chest infection, handed over at hospital."""
    return record(
        incident_ref="INC-20260301-0042", status="handed_over", spo2_scale=2, updated_at=T0 + 90 * MIN, version=12,
        complaint="shortness of breath, productive cough",
        patient=replace(Patient(name="John Smith", date_of_birth="1958-04-02", sex="male", nhs_number="9434765919",
                                allergies=["penicillin"], medications=["salbutamol inhaler"], history="COPD"),
                        **patient),
        times=Times(call=T0, mobile=T0 + 2 * MIN, at_scene=T0 + 10 * MIN, at_patient=T0 + 12 * MIN,
                    left_scene=T0 + 49 * MIN, at_hospital=T0 + 67 * MIN, handover=T0 + 80 * MIN),
        medications_given=[
            MedicationGiven(id=2, drug="Salbutamol", dose=5.0, unit="mg", route="nebulised", time=T0 + 20 * MIN,
                            given_by="J Bloggs", entered_by="tablet-1"),
            MedicationGiven(id=3, drug="Paracetamol", dose=1.0, unit="g", route="IV", time=T0 + 30 * MIN,
                            given_by=None, entered_by="tablet-2")],
        interventions=[Intervention(id=1, what="IV cannula, left antecubital fossa", time=T0 + 25 * MIN, by=None,
                                    entered_by="tablet-1")],
        notes=[Note(id=1, text="wife travelling with patient", time=T0 + 40 * MIN, entered_by="tablet-1")])


OBSERVATIONS = [
    obs(1, "spo2", 86, T0 + 14 * MIN, "oximeter", device_time=T0 + 14 * MIN - 4000),
    obs(2, "pulse_rate", 112, T0 + 14 * MIN, "oximeter"),
    obs(3, "perfusion_index", 1.2, T0 + 14 * MIN, "oximeter", flags=["low perfusion"]),
    obs(4, "bp_systolic", 104, T0 + 16 * MIN, "bp-cuff"),
    obs(5, "bp_diastolic", 68, T0 + 16 * MIN, "bp-cuff"),
    obs(6, "bp_mean", 80, T0 + 16 * MIN, "bp-cuff"),
    obs(7, "resp_rate", 26, T0 + 17 * MIN),
    obs(8, "consciousness", "C", T0 + 17 * MIN),
    obs(9, "temperature", 39.2, T0 + 18 * MIN),
    obs(10, "oxygen_supplement", True, T0 + 18 * MIN),
    obs(11, "gcs_eye", 4, T0 + 19 * MIN), obs(12, "gcs_verbal", 4, T0 + 19 * MIN),
    obs(13, "gcs_motor", 6, T0 + 19 * MIN), obs(14, "gcs_total", 14, T0 + 19 * MIN),
    obs(15, "glucose", 7.1, T0 + 21 * MIN), obs(16, "pain_score", 3, T0 + 21 * MIN),
    obs(17, "heart_rate", 110, T0 + 22 * MIN, "hr-strap"), obs(18, "energy_expended", 12, T0 + 22 * MIN, "hr-strap"),
    obs(19, "rr_interval", 0.55, T0 + 22 * MIN, "hr-strap"), obs(20, "etco2", 41, T0 + 23 * MIN, "capnograph"),
    obs(21, "bp_systolic", 98, T0 + 31 * MIN, "bp-cuff"),          # diastolic lost: stays alone
    obs(22, "gcs_eye", 3, T0 + 45 * MIN), obs(23, "gcs_verbal", "NT", T0 + 45 * MIN),
    obs(24, "gcs_motor", 5, T0 + 45 * MIN),
    obs(25, "gcs_motor", 6, T0 + 50 * MIN),                           # a lone component
]
DEVICES = [
    KnownDevice(name="oximeter", protocol="masimo-ascii", port="/dev/serial/by-id/usb-x-if00",
                info={"maker": "Masimo", "model": "Rad-8", "serial": "RAD8-000123", "firmware": "7.1.2"}),
    KnownDevice(name="bp-cuff", protocol="gatt-blood-pressure", port=None, info={}),
    KnownDevice(name="thermometer", protocol="gatt-temperature", port=None, info={}),   # not used: no Device
]
NOW = T0 + 95 * MIN
GOLDEN = Path(__file__).parent / "golden"


def build(rec: EncounterRecord | None = None, observations: list[Observation] | None = None,
          **kw: Any) -> dict[str, Any]:
    return encounter_bundle(rec or make_record(), OBSERVATIONS if observations is None else observations,
                            DEVICES, now_ms=NOW, id_for=kw.get("id_for", id_for))


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return build()


def resources(b: dict[str, Any], rtype: str | None = None) -> list[dict[str, Any]]:
    return [e["resource"] for e in b["entry"] if rtype is None or e["resource"]["resourceType"] == rtype]


def by_id(b: dict[str, Any], key: str) -> dict[str, Any]:
    rid = id_for(key)
    (found,) = [r for r in resources(b) if r["id"] == rid]
    return found


def codes(concept: dict[str, Any], system: str) -> list[str]:
    return [c["code"] for c in concept.get("coding", []) if c["system"] == system]


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def test_bundle_and_every_resource_parse_as_fhir(bundle: dict[str, Any]) -> None:
    Bundle.model_validate(bundle)
    for r in resources(bundle):
        get_fhir_model_class(r["resourceType"]).model_validate(r)
    kinds = {r["resourceType"] for r in resources(bundle)}
    assert kinds == {"Patient", "Encounter", "Device", "Observation", "AllergyIntolerance", "MedicationStatement",
                     "MedicationAdministration", "Procedure"}


def test_the_validator_is_not_vacuous(bundle: dict[str, Any]) -> None:
    # R5 renamed MedicationAdministration.context to .encounter: an R5-shaped resource must fail R4B.
    bad = copy.deepcopy(by_id(bundle, "medication-administration:2"))
    bad["encounter"] = bad.pop("context")
    with pytest.raises(ValueError):
        get_fhir_model_class("MedicationAdministration").model_validate(bad)
    broken = copy.deepcopy(bundle)
    del broken["entry"][1]["resource"]["class"]   # Encounter.class is 1..1 in R4
    with pytest.raises(ValueError):
        Bundle.model_validate(broken)


def test_the_journey_bundle_is_what_it_was_byte_for_byte(bundle: dict[str, Any]) -> None:
    # golden/journey1_bundle.json was made by the mapping before it took typed records: what upstream
    # receives must not change by accident. Regenerate it only for a change meant to reach the wire.
    assert json.dumps(bundle, indent=1, ensure_ascii=False) + "\n" == (GOLDEN / "journey1_bundle.json").read_text()


def test_transaction_of_puts_by_client_id(bundle: dict[str, Any]) -> None:
    assert bundle["type"] == "transaction" and bundle["timestamp"] == iso(NOW) == "2026-03-01T12:06:00.000Z"
    for e in bundle["entry"]:
        r = e["resource"]
        assert e["fullUrl"] == f"urn:uuid:{r['id']}"
        assert e["request"] == {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
        assert str(uuid.UUID(r["id"])) == r["id"]
    assert len({e["fullUrl"] for e in bundle["entry"]}) == len(bundle["entry"])


def test_every_reference_resolves_inside_the_bundle(bundle: dict[str, Any]) -> None:
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    refs = [v for k, v in walk(bundle) if k == "reference"]
    assert len(refs) > 50
    assert set(refs) <= full_urls
    patient, encounter = resources(bundle, "Patient")[0], resources(bundle, "Encounter")[0]
    for r in resources(bundle):
        if r["resourceType"] in ("Observation", "MedicationAdministration", "Procedure", "MedicationStatement"):
            assert r["subject"]["reference"] == f"urn:uuid:{patient['id']}"
            link = r.get("encounter") or r.get("context")
            assert link == {"reference": f"urn:uuid:{encounter['id']}"}


def test_no_patient_data_in_ids_or_urls(bundle: dict[str, Any]) -> None:
    secrets = ["John", "Smith", "9434765919", "943 476 5919", "1958-04-02", "19580402", "INC-20260301-0042",
               "0042", "penicillin", make_record().id]
    locators = [e["fullUrl"] for e in bundle["entry"]] + [e["request"]["url"] for e in bundle["entry"]]
    locators += [r["id"] for r in resources(bundle)] + [bundle["id"], bundle["identifier"]["value"]]
    for loc in locators:
        assert re.fullmatch(r"(urn:uuid:|[A-Za-z]+/)?[0-9a-f-]{36}", loc), loc
        for s in secrets:
            assert s.lower() not in loc.lower(), (s, loc)
    # ...while the data itself is in the right elements.
    patient = resources(bundle, "Patient")[0]
    assert patient["identifier"] == [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}]
    assert patient["name"] == [{"text": "John Smith"}]
    assert (patient["birthDate"], patient["gender"]) == ("1958-04-02", "male")


def test_deterministic_for_the_same_input() -> None:
    a, b = build(), build()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    shuffled = build(observations=list(reversed(OBSERVATIONS)))
    assert shuffled == a
    other = build(id_for=lambda k: id_for(k, uuid.UUID(int=1)))
    assert {r["id"] for r in resources(other)}.isdisjoint({r["id"] for r in resources(a)})


def test_each_metric_has_its_contract_loinc_and_ucum(bundle: dict[str, Any]) -> None:
    singles = {o.id: o for o in OBSERVATIONS if o.id in (1, 2, 3, 7, 9, 15, 16, 17, 19, 20, 21, 25)}
    for oid, o in singles.items():
        r = by_id(bundle, f"observation:{oid}")
        info = METRICS[Metric(o.metric)]
        assert codes(r["code"], LOINC)[0] == info.loinc, o.metric
        assert r["valueQuantity"]["system"] == UCUM and r["valueQuantity"]["code"] == info.unit
        assert r["valueQuantity"]["value"] == o.value
        assert r["effectiveDateTime"] == iso(o.received_at)
    assert codes(by_id(bundle, "observation:1")["code"], LOINC) == ["59408-5", "2708-6"]
    assert {i.loinc for i in METRICS.values() if i.loinc} <= set(LOINC_DISPLAY)   # every code has a display


def test_vital_signs_category_on_every_vital_observation(bundle: dict[str, Any]) -> None:
    vital_loinc = {"8867-4", "8889-8", "59408-5", "9279-1", "85354-9", "8480-6", "8310-5", "19891-1", "61006-3",
                   "8637-1", "67775-7", "9269-2", "9268-4"}
    # Every LOINC-coded metric but pain (survey) and glucose (laboratory) is a vital sign.
    assert {m for m, i in METRICS.items() if i.loinc} - {Metric.PAIN_SCORE, Metric.GLUCOSE} <= \
        {m for m, cat in CATEGORY.items() if cat == "vital-signs"}
    observations = resources(bundle, "Observation")
    seen = set()
    for r in observations:
        categories = {c["code"] for cat in r.get("category", []) for c in cat["coding"] if c["system"] == VITAL}
        loinc = codes(r["code"], LOINC)
        if loinc and loinc[0] in vital_loinc:
            assert categories == {"vital-signs"}, loinc
            seen.add(loinc[0])
        if "vital-signs" in categories:
            assert loinc, "the R4 vital signs profile needs a LOINC code"
    assert seen == vital_loinc
    assert {c["code"] for c in by_id(bundle, "observation:15")["category"][0]["coding"]} == {"laboratory"}
    assert {c["code"] for c in by_id(bundle, "observation:16")["category"][0]["coding"]} == {"survey"}


def test_blood_pressure_panel_when_taken_together(bundle: dict[str, Any]) -> None:
    panel = by_id(bundle, "bp-panel:4")
    assert codes(panel["code"], LOINC) == ["85354-9"] and "valueQuantity" not in panel
    parts = {codes(c["code"], LOINC)[0]: c["valueQuantity"] for c in panel["component"]}
    assert {k: v["value"] for k, v in parts.items()} == {"8480-6": 104, "8462-4": 68, "8478-0": 80}
    assert all(v["code"] == "mm[Hg]" and v["system"] == UCUM for v in parts.values())
    assert panel["device"] == {"reference": f"urn:uuid:{id_for('device:bp-cuff')}"}
    for oid in (4, 5, 6):
        assert not [r for r in resources(bundle) if r["id"] == id_for(f"observation:{oid}")]
    lone = by_id(bundle, "observation:21")
    assert codes(lone["code"], LOINC) == ["8480-6"] and lone["valueQuantity"]["value"] == 98


def test_bp_pairing_rules() -> None:
    rows = [obs(1, "bp_systolic", 120, T0, "bp-cuff"), obs(2, "bp_diastolic", 80, T0 + 5000, "bp-cuff"),
            obs(3, "bp_systolic", 130, T0 + MIN, "cuff-a"), obs(4, "bp_diastolic", 85, T0 + MIN, "cuff-b"),
            obs(5, "bp_systolic", 140, T0 + 2 * MIN, "bp-cuff", device_time=5),
            obs(6, "bp_diastolic", 90, T0 + 2 * MIN + 1700, "bp-cuff", device_time=5),
            obs(7, "bp_systolic", 150, T0 + 3 * MIN, "bp-cuff"), obs(8, "bp_diastolic", 95, T0 + 3 * MIN + 900, "bp-cuff"),
            # typed by hand as two entries 40 s apart: one reading
            obs(9, "bp_systolic", 110, T0 + 10 * MIN), obs(10, "bp_diastolic", 70, T0 + 10 * MIN + 40_000),
            # ...but not 3 minutes apart
            obs(11, "bp_systolic", 100, T0 + 20 * MIN), obs(12, "bp_diastolic", 60, T0 + 23 * MIN)]
    b = build(observations=rows)
    panels = [r for r in resources(b, "Observation") if codes(r["code"], LOINC) == ["85354-9"]]
    assert [p["id"] for p in panels] == [id_for("bp-panel:5"), id_for("bp-panel:7"), id_for("bp-panel:9")]
    assert by_id(b, "bp-panel:9")["effectiveDateTime"] == iso(T0 + 10 * MIN)
    singles = sorted(codes(r["code"], LOINC)[0] for r in resources(b, "Observation") if r not in panels)
    assert singles == ["8462-4"] * 3 + ["8480-6"] * 3


def test_consciousness_oxygen_and_energy(bundle: dict[str, Any]) -> None:
    acvpu = by_id(bundle, "observation:8")
    assert codes(acvpu["code"], LOINC) == ["67775-7"] and codes(acvpu["code"], SNOMED) == ["1104441000000107"]
    assert codes(acvpu["valueCodeableConcept"], SNOMED) == ["130987000"]
    o2 = by_id(bundle, "observation:10")
    assert o2["valueBoolean"] is True and codes(o2["code"], SNOMED) == ["57485005"]
    assert o2["category"][0]["coding"][0]["code"] == "therapy"
    energy = by_id(bundle, "observation:18")
    assert codes(energy["code"], "urn:iso:std:iso:11073:10101") == ["8454263"]
    assert energy["valueQuantity"]["code"] == "kJ"


@pytest.mark.parametrize(("letter", "snomed"), [("A", "248234008"), ("V", "300202002"), ("P", "450847001"),
                                                 ("U", "422768004"), ("c", "130987000")])
def test_every_acvpu_letter(letter: str, snomed: str) -> None:
    b = build(observations=[obs(1, "consciousness", letter, T0)])
    assert codes(by_id(b, "observation:1")["valueCodeableConcept"], SNOMED) == [snomed]


def test_gcs_panel_and_not_testable(bundle: dict[str, Any]) -> None:
    full = by_id(bundle, "gcs-panel:11")
    assert codes(full["code"], LOINC) == ["9269-2"] and full["valueQuantity"]["value"] == 14
    assert [codes(c["code"], LOINC)[0] for c in full["component"]] == ["9267-6", "9270-0", "9268-4"]
    assert [c["valueQuantity"]["value"] for c in full["component"]] == [4, 4, 6]
    assert not [r for r in resources(bundle) if r["id"] == id_for("observation:14")]   # total folded in
    nt = by_id(bundle, "gcs-panel:22")
    assert "valueQuantity" not in nt and nt["dataAbsentReason"]["coding"][0]["code"] == "not-performed"
    verbal = nt["component"][1]
    assert codes(verbal["code"], LOINC) == ["9270-0"] and "valueQuantity" not in verbal
    assert verbal["dataAbsentReason"]["coding"][0]["code"] == "not-performed"
    lone = by_id(bundle, "observation:25")
    assert codes(lone["code"], LOINC) == ["9268-4"] and lone["valueQuantity"]["value"] == 6


def test_gcs_keyed_in_one_component_at_a_time_is_one_panel() -> None:
    rows = [obs(1, "gcs_eye", 4, T0), obs(2, "gcs_verbal", 5, T0 + 25_000), obs(3, "gcs_motor", 6, T0 + 50_000)]
    b = build(observations=rows)
    (panel,) = resources(b, "Observation")
    assert panel["id"] == id_for("gcs-panel:1") and panel["valueQuantity"]["value"] == 15
    assert panel["effectiveDateTime"] == iso(T0)


def test_gcs_total_that_disagrees_is_kept_separately() -> None:
    rows = [obs(1, "gcs_eye", 4, T0), obs(2, "gcs_verbal", 5, T0), obs(3, "gcs_motor", 6, T0),
            obs(4, "gcs_total", 13, T0)]
    b = build(observations=rows)
    assert by_id(b, "gcs-panel:1")["valueQuantity"]["value"] == 15
    assert by_id(b, "observation:4")["valueQuantity"]["value"] == 13


def test_device_clock_and_flags_kept_in_a_note(bundle: dict[str, Any]) -> None:
    spo2 = by_id(bundle, "observation:1")
    assert spo2["effectiveDateTime"] == "2026-03-01T10:45:00.000Z"
    assert "device clock 2026-03-01T10:44:56.000Z" in spo2["note"][0]["text"]
    assert "low perfusion" in by_id(bundle, "observation:3")["note"][0]["text"]
    assert "note" not in by_id(bundle, "observation:2")


def test_devices_only_those_used(bundle: dict[str, Any]) -> None:
    devices = {r["deviceName"][0]["name"]: r for r in resources(bundle, "Device")}
    assert sorted(devices) == ["bp-cuff", "capnograph", "hr-strap", "oximeter"]
    ox = devices["oximeter"]
    assert (ox["manufacturer"], ox["modelNumber"], ox["serialNumber"], ox["version"]) == \
        ("Masimo", "Rad-8", "RAD8-000123", [{"value": "7.1.2"}])
    assert by_id(bundle, "observation:17")["device"]["reference"] == f"urn:uuid:{devices['hr-strap']['id']}"
    manual = by_id(bundle, "observation:7")
    assert "device" not in manual and manual["performer"] == [{"display": "tablet-1"}]
    # a monitor the store does not know (any more) is still a Device, by its name only
    assert set(devices["capnograph"]) == {"resourceType", "id", "deviceName"}
    assert devices["bp-cuff"]["note"] == [{"text": "protocol gatt-blood-pressure"}]


def test_encounter(bundle: dict[str, Any]) -> None:
    enc = resources(bundle, "Encounter")[0]
    assert enc["status"] == "finished"
    assert enc["class"] == {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER",
                            "display": "emergency"}
    assert enc["period"] == {"start": "2026-03-01T10:31:00.000Z", "end": "2026-03-01T11:51:00.000Z"}
    assert enc["reasonCode"] == [{"text": "shortness of breath, productive cough"}]
    assert enc["identifier"][0]["value"] == "INC-20260301-0042"
    assert "left scene: 2026-03-01T11:20:00.000Z" in enc["text"]["div"]
    opened = build(replace(make_record(), status="open"))
    enc = resources(opened, "Encounter")[0]
    assert enc["status"] == "in-progress" and "end" not in enc["period"]


def test_treatment(bundle: dict[str, Any]) -> None:
    neb = by_id(bundle, "medication-administration:2")
    assert neb["status"] == "completed" and neb["medicationCodeableConcept"] == {"text": "Salbutamol"}
    assert neb["effectiveDateTime"] == "2026-03-01T10:51:00.000Z"
    assert neb["dosage"]["dose"] == {"value": 5, "unit": "mg", "system": UCUM, "code": "mg"}
    assert neb["dosage"]["route"] == {"text": "nebulised"}
    assert neb["performer"] == [{"actor": {"display": "J Bloggs"}}]
    assert by_id(bundle, "medication-administration:3")["performer"] == [{"actor": {"display": "tablet-2"}}]
    cannula = by_id(bundle, "procedure:1")
    assert cannula["code"] == {"text": "IV cannula, left antecubital fossa"}
    assert cannula["performedDateTime"] == "2026-03-01T10:56:00.000Z"
    assert [r["code"]["text"] for r in resources(bundle, "AllergyIntolerance")] == ["penicillin"]
    statement = resources(bundle, "MedicationStatement")[0]
    assert statement["medicationCodeableConcept"] == {"text": "salbutamol inhaler"}


def test_unknown_patient_still_gets_a_subject() -> None:
    b = build(make_record(name=None, date_of_birth=None, estimated_age=60, sex=None, nhs_number=None,
                          allergies=[], medications=[]))
    Bundle.model_validate(b)
    patient = resources(b, "Patient")[0]
    assert set(patient) == {"resourceType", "id"}
    age = by_id(b, "estimated-age")
    assert age["valueQuantity"] == {"value": 60, "unit": "years", "system": UCUM, "code": "a"}
    assert not resources(b, "AllergyIntolerance")


def test_invalid_nhs_number_is_not_sent() -> None:
    patient = resources(build(make_record(nhs_number="9434765918")), "Patient")[0]
    assert "identifier" not in patient


def test_lone_total_not_testable_and_an_unknown_metric() -> None:
    future = obs(2, "body_weight", 70, T0, "scale", unit="kg")
    b = build(observations=[obs(1, "gcs_total", "NT", T0), future])
    Bundle.model_validate(b)
    total = by_id(b, "observation:1")
    assert codes(total["code"], LOINC) == ["9269-2"] and total["dataAbsentReason"]["text"] == "not testable (NT)"
    weight = by_id(b, "observation:2")
    assert weight["code"] == {"text": "body_weight"} and "category" not in weight
    assert weight["valueQuantity"] == {"value": 70, "unit": "kg"}


def test_refusals() -> None:
    with pytest.raises(ValueError, match="UUID"):
        build(id_for=lambda k: f"enc-{k}")
    with pytest.raises(ValueError, match="same id"):
        build(id_for=lambda k: id_for("one"))
    wrong_unit = obs(1, "bp_systolic", 16, T0, "bp-cuff", unit="kPa")
    with pytest.raises(ValueError, match="canonical"):
        build(observations=[wrong_unit])
    with pytest.raises(ValueError, match="finite"):
        build(observations=[obs(1, "spo2", float("nan"), T0, "oximeter")])
    with pytest.raises(ValueError, match="GCS verbal"):
        build(observations=[obs(1, "gcs_verbal", 6, T0)])
    with pytest.raises(ValueError, match="ACVPU"):
        build(observations=[obs(1, "consciousness", "X", T0)])
