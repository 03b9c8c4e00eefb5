"""The metric vocabulary of the contract (DESIGN.md): names, canonical units and standard codes."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Metric(StrEnum):
    """Every reading carries one of these names; never rename one, only add."""

    HEART_RATE = "heart_rate"
    PULSE_RATE = "pulse_rate"
    SPO2 = "spo2"
    RESP_RATE = "resp_rate"
    BP_SYSTOLIC = "bp_systolic"
    BP_DIASTOLIC = "bp_diastolic"
    BP_MEAN = "bp_mean"
    TEMPERATURE = "temperature"
    ETCO2 = "etco2"
    GLUCOSE = "glucose"
    PERFUSION_INDEX = "perfusion_index"
    RR_INTERVAL = "rr_interval"
    ENERGY_EXPENDED = "energy_expended"
    CONSCIOUSNESS = "consciousness"
    OXYGEN_SUPPLEMENT = "oxygen_supplement"
    GCS_EYE = "gcs_eye"
    GCS_VERBAL = "gcs_verbal"
    GCS_MOTOR = "gcs_motor"
    GCS_TOTAL = "gcs_total"
    PAIN_SCORE = "pain_score"
    # Invasive arterial line: never bp_* (those are cuff readings, and NEWS2 scores them).
    IBP_SYSTOLIC = "ibp_systolic"
    IBP_DIASTOLIC = "ibp_diastolic"
    IBP_MEAN = "ibp_mean"


class ValueKind(StrEnum):
    """What a metric's value is on the wire and in the store."""

    NUMBER = "number"
    TEXT = "text"
    BOOLEAN = "boolean"


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """Canonical unit (UCUM), LOINC code (None where no exact code exists) and value kind."""

    unit: str
    loinc: str | None
    kind: ValueKind = ValueKind.NUMBER
    low: float | None = None
    high: float | None = None


# low/high are physiologically possible bounds: a manual entry outside them is a typo, not a patient.
METRICS: dict[Metric, MetricInfo] = {
    Metric.HEART_RATE: MetricInfo("/min", "8867-4", low=0, high=350),
    Metric.PULSE_RATE: MetricInfo("/min", "8889-8", low=0, high=350),
    Metric.SPO2: MetricInfo("%", "59408-5", low=0, high=100),
    Metric.RESP_RATE: MetricInfo("/min", "9279-1", low=0, high=120),
    Metric.BP_SYSTOLIC: MetricInfo("mm[Hg]", "8480-6", low=0, high=350),
    Metric.BP_DIASTOLIC: MetricInfo("mm[Hg]", "8462-4", low=0, high=300),
    Metric.BP_MEAN: MetricInfo("mm[Hg]", "8478-0", low=0, high=300),
    Metric.TEMPERATURE: MetricInfo("Cel", "8310-5", low=15, high=47),
    Metric.ETCO2: MetricInfo("mm[Hg]", "19891-1", low=0, high=150),
    Metric.GLUCOSE: MetricInfo("mmol/L", "15074-8", low=0, high=120),
    Metric.PERFUSION_INDEX: MetricInfo("%", "61006-3", low=0, high=100),
    Metric.RR_INTERVAL: MetricInfo("s", "8637-1", low=0, high=10),
    # No LOINC; IEEE 11073-10101 MDC_HF_ENERGY (partition 129, term 119: 8454263), as the FHIR export codes it.
    Metric.ENERGY_EXPENDED: MetricInfo("kJ", None, low=0, high=65535),
    Metric.CONSCIOUSNESS: MetricInfo("", "67775-7", ValueKind.TEXT),
    # No exact LOINC. The FHIR export uses SNOMED CT 57485005 |Oxygen therapy| with a boolean (HL7 CZ EMS);
    # NHS England's NEWS2 guidance instead sends 371825009 |Patient on oxygen| / 722742002 |Breathing room air|.
    Metric.OXYGEN_SUPPLEMENT: MetricInfo("", None, ValueKind.BOOLEAN),
    Metric.GCS_EYE: MetricInfo("{score}", "9267-6", low=1, high=4),
    Metric.GCS_VERBAL: MetricInfo("{score}", "9270-0", low=1, high=5),
    Metric.GCS_MOTOR: MetricInfo("{score}", "9268-4", low=1, high=6),
    Metric.GCS_TOTAL: MetricInfo("{score}", "9269-2", low=3, high=15),
    Metric.PAIN_SCORE: MetricInfo("{score}", "72514-3", low=0, high=10),
    # LOINC "... blood pressure by Invasive" (arterial system).
    Metric.IBP_SYSTOLIC: MetricInfo("mm[Hg]", "76215-3", low=0, high=350),
    Metric.IBP_DIASTOLIC: MetricInfo("mm[Hg]", "76213-8", low=0, high=300),
    Metric.IBP_MEAN: MetricInfo("mm[Hg]", "76214-6", low=0, high=300),
}

ACVPU = ("A", "C", "V", "P", "U")


def unit_of(metric: Metric) -> str:
    """The canonical UCUM unit of a metric."""
    return METRICS[metric].unit
