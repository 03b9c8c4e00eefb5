"""Code systems and code tables for the FHIR R4 mapping (fhir.py), each with its source.

Kept apart from the mapping so a reviewer can check every code against its source in one place.
LOINC codes themselves come from firmware_bridge.metrics.METRICS (the contract); this module
adds displays, categories, and the non-LOINC codes the contract leaves open.
"""
from __future__ import annotations

from firmware_bridge.metrics import Metric

# Canonical system URIs (FHIR R4 terminology page, https://hl7.org/fhir/R4/terminologies-systems.html).
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
MDC = "urn:iso:std:iso:11073:10101"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
# NHS England's identifier system for the NHS number (UK Core Patient, identifier:nhsNumber slice).
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"

# LOINC displays (LOINC long common names; the vital-signs ones as in the R4 vital signs profile,
# https://hl7.org/fhir/R4/observation-vitalsigns.html).
LOINC_DISPLAY: dict[str, str] = {
    "8867-4": "Heart rate",
    "8889-8": "Heart rate by Pulse oximetry",
    "59408-5": "Oxygen saturation in Arterial blood by Pulse oximetry",
    "2708-6": "Oxygen saturation in Arterial blood",
    "9279-1": "Respiratory rate",
    "85354-9": "Blood pressure panel with all children optional",
    "8480-6": "Systolic blood pressure",
    "8462-4": "Diastolic blood pressure",
    "8478-0": "Mean blood pressure",
    "8310-5": "Body temperature",
    "19891-1": "Carbon dioxide [Partial pressure] in Exhaled gas --at end expiration",
    "15074-8": "Glucose [Moles/volume] in Blood",
    "61006-3": "Perfusion index Tissue by Pulse oximetry",
    "8637-1": "R-R interval by EKG",
    "67775-7": "Level of responsiveness",
    "9267-6": "Glasgow coma score eye opening",
    "9270-0": "Glasgow coma score verbal",
    "9268-4": "Glasgow coma score motor",
    "9269-2": "Glasgow coma score total",
    "72514-3": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
    "76215-3": "Invasive Systolic blood pressure",
    "76213-8": "Invasive Diastolic blood pressure",
    "76214-6": "Invasive Mean blood pressure",
}
BP_PANEL = "85354-9"
GCS_TOTAL_LOINC = "9269-2"
# The R4 oxygen saturation profile fixes 2708-6 in Observation.code; 59408-5 (pulse oximetry,
# the contract's code) goes beside it, as US Core's pulse oximetry profile does.
EXTRA_CODINGS: dict[Metric, list[dict[str, str]]] = {
    Metric.SPO2: [{"system": LOINC, "code": "2708-6", "display": LOINC_DISPLAY["2708-6"]}],
    # NHS England NEWS2 FHIR guidance (nhsconnect/FHIR-NEWS2, news2_acvpu_guidance) fixes this
    # SNOMED observable for ACVPU; LOINC 67775-7 is the contract's code, SNOMED helps UK receivers.
    Metric.CONSCIOUSNESS: [{"system": SNOMED, "code": "1104441000000107",
                            "display": "ACVPU (Alert Confusion Voice Pain Unresponsive) scale score"}],
}

# Observation.category (http://terminology.hl7.org/CodeSystem/observation-category). vital-signs
# only where the code is LOINC: the R4 vital signs profile requires a LOINC Observation.code.
# GCS as vital-signs follows HL7 Germany's observation-de-vitalsign-gcs; pain is patient-reported
# (survey); capillary glucose is a point-of-care test (laboratory); oxygen is a therapy; energy
# expended from a heart-rate strap is an activity measure.
CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "survey": "Survey", "laboratory": "Laboratory",
                    "therapy": "Therapy", "activity": "Activity"}
# Keys are metric names (Metric is a StrEnum, so either looks up); plain strings for metrics that
# may be newer than this table.
CATEGORY: dict[str, str] = {
    **{m: "vital-signs" for m in (
        Metric.HEART_RATE, Metric.PULSE_RATE, Metric.SPO2, Metric.RESP_RATE, Metric.BP_SYSTOLIC,
        Metric.BP_DIASTOLIC, Metric.BP_MEAN, Metric.TEMPERATURE, Metric.ETCO2, Metric.PERFUSION_INDEX,
        Metric.RR_INTERVAL, Metric.CONSCIOUSNESS, Metric.GCS_EYE, Metric.GCS_VERBAL, Metric.GCS_MOTOR,
        Metric.GCS_TOTAL, "ibp_systolic", "ibp_diastolic", "ibp_mean")},
    Metric.PAIN_SCORE: "survey",
    Metric.GLUCOSE: "laboratory",
    Metric.OXYGEN_SUPPLEMENT: "therapy",
    Metric.ENERGY_EXPENDED: "activity",
}

# Codes for the metrics without a LOINC code.
# SNOMED CT 57485005 |Oxygen therapy (procedure)| with valueBoolean, as HL7 Czech Republic's EMS
# report profile (cz-observation-oxygen-ems) records "on oxygen". NHS England's NEWS2 guidance
# instead sends a code-only Observation of 371825009 |Patient on oxygen| or 722742002 |Breathing
# room air| (HL7 UK CareConnect-InspiredOxygen-1); the boolean keeps "on air" explicit.
OXYGEN_CODING = {"system": SNOMED, "code": "57485005", "display": "Oxygen therapy"}
# IEEE 11073-10101 MDC_HF_ENERGY: partition 129 (MDC_PART_PHD_HF), term 119; FHIR uses the
# context-free code 129 * 2**16 + 119.
ENERGY_CODING = {"system": MDC, "code": str(129 * 65536 + 119), "display": "MDC_HF_ENERGY"}

# ACVPU answers: HL7 UK CareConnect-ACVPU-1 value set (SNOMED CT UK), as used by NHS England's
# NEWS2 FHIR guidance for the ACVPU Observation's valueCodeableConcept.
ACVPU_CODES: dict[str, tuple[str, str, str]] = {
    "A": ("248234008", "Mentally alert", "A: alert"),
    "C": ("130987000", "Acute confusion", "C: new confusion"),
    "V": ("300202002", "Responds to voice", "V: responds to voice"),
    "P": ("450847001", "Responds to pain", "P: responds to pain"),
    "U": ("422768004", "Unresponsive", "U: unresponsive"),
}

# GCS "NT": data-absent-reason "not-performed" ("the observation procedure was not performed"):
# the component could not be tested, so no value exists; "unknown" would claim a value exists but
# was not obtained. (R4 DataAbsentReason, https://hl7.org/fhir/R4/codesystem-data-absent-reason.html)
NOT_TESTABLE = {"coding": [{"system": DATA_ABSENT, "code": "not-performed", "display": "Not Performed"}],
                "text": "not testable (NT)"}

# Encounter: v3-ActCode EMER "emergency" (R4 Encounter.class, extensible v3 ActEncounterCode).
ENCOUNTER_CLASS = {"system": ACT_CODE, "code": "EMER", "display": "emergency"}
# Handed over and closed both end the ambulance's part of the episode: "finished" (R4 EncounterStatus).
ENCOUNTER_STATUS = {"open": "in-progress", "handed_over": "finished", "closed": "finished"}
GENDER = {"male": "male", "female": "female", "other": "other", "unknown": "unknown"}

# Human-readable Quantity.unit beside the UCUM code.
UNIT_DISPLAY = {"/min": "/min", "%": "%", "mm[Hg]": "mmHg", "Cel": "degrees C", "mmol/L": "mmol/L",
                "s": "s", "kJ": "kJ", "{score}": "score"}

# Drug dose units typed by crews mapped to UCUM (https://ucum.org); anything else is sent as text
# only rather than guessed (e.g. "mcg" is not UCUM: micrograms are "ug").
DOSE_UCUM = {"mg": "mg", "g": "g", "ug": "ug", "mcg": "ug", "microgram": "ug", "micrograms": "ug",
             "ng": "ng", "ml": "mL", "mL": "mL", "l": "L", "L": "L", "mmol": "mmol",
             "l/min": "L/min", "L/min": "L/min", "%": "%", "iu": "[iU]", "IU": "[iU]",
             "mg/kg": "mg/kg", "ml/kg": "mL/kg", "puffs": "{puff}", "puff": "{puff}"}
