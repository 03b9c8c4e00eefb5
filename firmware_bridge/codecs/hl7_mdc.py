"""IEEE 11073-10101 (MDC) and Philips MDIL codes in OBX-3/OBX-6 -> metrics and canonical units.

An MDC code on the wire is partition * 65536 + term code (PCD-01 writes it in decimal, e.g. 150456 =
2::19384); Philips "MDIL" writes the same pair in hex, "0002-4bb8". Sources, checked number by number:
  [GE]   GE B40/B105/B125 HL7 Reference Manual 2062665-001 G pp.15, 19-24 (PCD-01 OBX rows with numbers).
  [EFF]  Philips Efficia CM Series Data Export Guide pp.3-10, 3-18, 3-27 ("MDIL Coding":
         <Partition>-<TermCode> in hex; 0x0002 SCADA, 0x0004 dimensions) and its parameter table.
  [NOM]  Philips IntelliVue Data Export nomenclature as transcribed in finlaywashere/PyVSCapture
         dataexport/enums.py (NOM_* term codes, SCADA partition; NOM_TEMP_GEN_1 = 61639 = 0xF0C7 etc.).
  [DIM]  MDC_DIM_* term codes, in agreement in two public transcriptions (an IEEE 11073-20601 "Table 9-7"
         dimension enum and the IntelliVue NOM_DIM_* header): % 544, bpm 2720, resp/min 2784,
         kPa 3843 (0x0F03), mmHg 3872, degF 4416 (0x1140), degC 6048 (0x17A0), dimensionless 512.
  [MR]   Mindray VS-900 PCD-01 capture (demo mode) quoted in a public HL7 TypeScript test: 150301-150303
         MDC_PRESS_CUFF_*, 150488 MDC_BLD_PERF_INDEX; Mindray captures also give 151578 MDC_TTHOR_RESP_RATE.
  [THM]  IEEE 11073-10408 thermometer codes (MDC_TEMP_RECT 57348, _ORAL 57352, _EAR 57356, _AXILLA 57380)
         and MDC_TEMP_BODY 19292, MDC_PULS_OXIM_PERF_REL 19376 in public 11073 PHD code tables.
  [PHD]  MDC_PULS_RATE_NON_INV = 0x00 0x02 0x48 0x2A (2::18474 = 149546) in an IEEE 11073-20601 blood
         pressure monitor example APDU.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

from firmware_bridge.metrics import Metric, unit_of

SCADA = 2
DIM = 4


def mdc(partition: int, term: int) -> int:
    """The 32-bit code PCD-01 writes in OBX-3/OBX-6 for a partition and term code."""
    return partition << 16 | term


# Observation codes (SCADA partition) that carry one of our metrics. Anything else is counted, not read.
MDC_METRICS: dict[int, Metric] = {
    # Heart rate only from the ECG; every pulse counted at a finger, a cuff or a line is a pulse rate.
    mdc(SCADA, 16770): Metric.HEART_RATE,  # 147842 MDC_ECG_HEART_RATE [GE][NOM]
    mdc(SCADA, 18442): Metric.PULSE_RATE,  # 149514 MDC_PULS_RATE (Philips "Pulse") [NOM][EFF]
    mdc(SCADA, 18450): Metric.PULSE_RATE,  # 149522 MDC_BLD_PULS_RATE_INV (from the arterial line) [GE]
    mdc(SCADA, 18458): Metric.PULSE_RATE,  # 149530 MDC_PULS_OXIM_PULS_RATE [MR]
    mdc(SCADA, 18466): Metric.PULSE_RATE,  # 149538 NOM_PLETH_PULS_RATE [NOM]
    mdc(SCADA, 18474): Metric.PULSE_RATE,  # 149546 MDC_PULS_RATE_NON_INV (from the cuff) [PHD]
    mdc(SCADA, 19384): Metric.SPO2,  # 150456 MDC_PULS_OXIM_SAT_O2 [GE][EFF][NOM]
    mdc(SCADA, 18949): Metric.BP_SYSTOLIC,  # 150021 MDC_PRESS_BLD_NONINV_SYS [EFF][NOM]
    mdc(SCADA, 18950): Metric.BP_DIASTOLIC,  # 150022 MDC_PRESS_BLD_NONINV_DIA [EFF][NOM]
    mdc(SCADA, 18951): Metric.BP_MEAN,  # 150023 MDC_PRESS_BLD_NONINV_MEAN [EFF][NOM]
    mdc(SCADA, 19229): Metric.BP_SYSTOLIC,  # 150301 MDC_PRESS_CUFF_SYS [MR]
    mdc(SCADA, 19230): Metric.BP_DIASTOLIC,  # 150302 MDC_PRESS_CUFF_DIA [MR]
    mdc(SCADA, 19231): Metric.BP_MEAN,  # 150303 MDC_PRESS_CUFF_MEAN [MR]
    # Arterial lines: aortic, generic arterial, "ABP" and umbilical arterial. Venous, pulmonary and
    # intracranial pressures are not arterial blood pressure and are left out.
    mdc(SCADA, 18957): Metric.IBP_SYSTOLIC,  # 150029 MDC_PRESS_BLD_AORT_SYS [NOM]
    mdc(SCADA, 18958): Metric.IBP_DIASTOLIC,  # 150030 MDC_PRESS_BLD_AORT_DIA [NOM]
    mdc(SCADA, 18959): Metric.IBP_MEAN,  # 150031 MDC_PRESS_BLD_AORT_MEAN [NOM]
    mdc(SCADA, 18961): Metric.IBP_SYSTOLIC,  # 150033 MDC_PRESS_BLD_ART_SYS [GE][NOM]
    mdc(SCADA, 18962): Metric.IBP_DIASTOLIC,  # 150034 MDC_PRESS_BLD_ART_DIA [GE][NOM]
    mdc(SCADA, 18963): Metric.IBP_MEAN,  # 150035 MDC_PRESS_BLD_ART_MEAN [GE][NOM]
    mdc(SCADA, 18965): Metric.IBP_SYSTOLIC,  # 150037 MDC_PRESS_BLD_ART_ABP_SYS [EFF][NOM]
    mdc(SCADA, 18966): Metric.IBP_DIASTOLIC,  # 150038 MDC_PRESS_BLD_ART_ABP_DIA [EFF][NOM]
    mdc(SCADA, 18967): Metric.IBP_MEAN,  # 150039 MDC_PRESS_BLD_ART_ABP_MEAN [EFF][NOM]
    mdc(SCADA, 18985): Metric.IBP_SYSTOLIC,  # 150057 MDC_PRESS_BLD_ART_UMB_SYS [NOM]
    mdc(SCADA, 18986): Metric.IBP_DIASTOLIC,  # 150058 MDC_PRESS_BLD_ART_UMB_DIA [NOM]
    mdc(SCADA, 18987): Metric.IBP_MEAN,  # 150059 MDC_PRESS_BLD_ART_UMB_MEAN [NOM]
    mdc(SCADA, 20480): Metric.RESP_RATE,  # 151552 MDC_RESP (Philips "Resp", sent in rpm) [EFF][NOM]
    mdc(SCADA, 20490): Metric.RESP_RATE,  # 151562 MDC_RESP_RATE [GE][NOM]
    mdc(SCADA, 20498): Metric.RESP_RATE,  # 151570 MDC_AWAY_RESP_RATE [NOM]
    mdc(SCADA, 20506): Metric.RESP_RATE,  # 151578 MDC_TTHOR_RESP_RATE [MR]
    # End-tidal CO2 as a partial pressure; a concentration in % needs the ambient pressure, so the unit
    # check below refuses it.
    mdc(SCADA, 20636): Metric.ETCO2,  # 151708 MDC_CONC_AWAY_CO2_ET [NOM]
    mdc(SCADA, 20656): Metric.ETCO2,  # 151728 MDC_AWAY_CO2_ET (Efficia "etCO2") [EFF][NOM]
    # Body temperature sites only: skin, ambient and blood temperatures would mislead NEWS2.
    mdc(SCADA, 19272): Metric.TEMPERATURE,  # 150344 MDC_TEMP (GE's body temperature) [GE][NOM]
    mdc(SCADA, 19292): Metric.TEMPERATURE,  # 150364 MDC_TEMP_BODY [THM]
    mdc(SCADA, 19296): Metric.TEMPERATURE,  # 150368 MDC_TEMP_CORE [NOM]
    mdc(SCADA, 19300): Metric.TEMPERATURE,  # 150372 MDC_TEMP_ESOPH [NOM]
    mdc(SCADA, 19308): Metric.TEMPERATURE,  # 150380 MDC_TEMP_NASOPH [NOM]
    mdc(SCADA, 19320): Metric.TEMPERATURE,  # 150392 MDC_TEMP_TYMP [THM][NOM]
    mdc(SCADA, 57348): Metric.TEMPERATURE,  # 188420 MDC_TEMP_RECT [THM][NOM]
    mdc(SCADA, 57352): Metric.TEMPERATURE,  # 188424 MDC_TEMP_ORAL [THM]
    mdc(SCADA, 57356): Metric.TEMPERATURE,  # 188428 MDC_TEMP_EAR [THM]
    mdc(SCADA, 57380): Metric.TEMPERATURE,  # 188452 MDC_TEMP_AXILLA [THM]
    # Perfusion: only ever read as % (the unit check refuses Philips' dimensionless relative "Perf").
    mdc(SCADA, 19376): Metric.PERFUSION_INDEX,  # 150448 MDC_PULS_OXIM_PERF_REL [THM][NOM]
    mdc(SCADA, 19416): Metric.PERFUSION_INDEX,  # 150488 MDC_BLD_PERF_INDEX [MR]
}

# Term codes 0xF000 and up are private to each vendor, so these hold only where OBX-3 says "MDIL".
MDIL_PRIVATE: dict[int, Metric] = {
    mdc(SCADA, 0xF0C7): Metric.TEMPERATURE,  # NOM_TEMP_GEN_1, label "T1" [EFF][NOM]
    mdc(SCADA, 0xF0C4): Metric.TEMPERATURE,  # NOM_TEMP_VESICAL (bladder: core) [NOM]
    mdc(SCADA, 0xF108): Metric.TEMPERATURE,  # NOM_TEMP_ORAL [NOM]
    mdc(SCADA, 0xF10C): Metric.TEMPERATURE,  # NOM_TEMP_AXIL [NOM]
    mdc(SCADA, 0xF0E5): Metric.PULSE_RATE,  # NOM_PRESS_BLD_NONINV_PULS_RATE [NOM]
    mdc(SCADA, 0xF0BD): Metric.IBP_SYSTOLIC,  # NOM_PRESS_BLD_ART_FEMORAL_SYS [NOM]
    mdc(SCADA, 0xF0BE): Metric.IBP_DIASTOLIC,  # NOM_PRESS_BLD_ART_FEMORAL_DIA [NOM]
    mdc(SCADA, 0xF0BF): Metric.IBP_MEAN,  # NOM_PRESS_BLD_ART_FEMORAL_MEAN [NOM]
    mdc(SCADA, 0xF0C1): Metric.IBP_SYSTOLIC,  # NOM_PRESS_BLD_ART_BRACHIAL_SYS [NOM]
    mdc(SCADA, 0xF0C2): Metric.IBP_DIASTOLIC,  # NOM_PRESS_BLD_ART_BRACHIAL_DIA [NOM]
    mdc(SCADA, 0xF0C3): Metric.IBP_MEAN,  # NOM_PRESS_BLD_ART_BRACHIAL_MEAN [NOM]
}


class Unit(StrEnum):
    """The units these metrics arrive in (UCUM spelling)."""

    PERCENT = "%"
    PER_MIN = "/min"
    MMHG = "mm[Hg]"
    KPA = "kPa"
    CEL = "Cel"
    FAHR = "[degF]"
    DIMLESS = "1"


MDC_UNITS: dict[int, Unit] = {  # [DIM]
    mdc(DIM, 512): Unit.DIMLESS,  # 262656 MDC_DIM_DIMLESS
    mdc(DIM, 544): Unit.PERCENT,  # 262688 MDC_DIM_PERCENT
    mdc(DIM, 2720): Unit.PER_MIN,  # 264864 MDC_DIM_BEAT_PER_MIN
    mdc(DIM, 2784): Unit.PER_MIN,  # 264928 MDC_DIM_RESP_PER_MIN
    mdc(DIM, 3843): Unit.KPA,  # 265987 MDC_DIM_KILO_PASCAL
    mdc(DIM, 3872): Unit.MMHG,  # 266016 MDC_DIM_MMHG
    mdc(DIM, 4416): Unit.FAHR,  # 266560 MDC_DIM_FAHR
    mdc(DIM, 6048): Unit.CEL,  # 268192 MDC_DIM_DEGC
}

# UCUM codes (OBX-6 with coding system UCUM) and the labels monitors print in OBX-6.2, lower-cased.
UNIT_WORDS: dict[str, Unit] = {
    "%": Unit.PERCENT, "/min": Unit.PER_MIN, "1/min": Unit.PER_MIN, "{beat}/min": Unit.PER_MIN,
    "{beats}/min": Unit.PER_MIN, "{breath}/min": Unit.PER_MIN, "{breaths}/min": Unit.PER_MIN,
    "{resp}/min": Unit.PER_MIN, "bpm": Unit.PER_MIN, "rpm": Unit.PER_MIN, "brpm": Unit.PER_MIN,
    "mm[hg]": Unit.MMHG, "mmhg": Unit.MMHG, "mm hg": Unit.MMHG, "kpa": Unit.KPA,
    "cel": Unit.CEL, "c": Unit.CEL, "°c": Unit.CEL, "degc": Unit.CEL, "deg c": Unit.CEL,
    "[degf]": Unit.FAHR, "f": Unit.FAHR, "°f": Unit.FAHR, "degf": Unit.FAHR, "deg f": Unit.FAHR,
}

KPA_TO_MMHG = 760 / 101.325  # 1 atm is 101.325 kPa and 760 mmHg: 7.50062 mmHg per kPa
_CONVERT: dict[tuple[Unit, str], Callable[[float], float]] = {
    (Unit.KPA, "mm[Hg]"): lambda v: v * KPA_TO_MMHG,
    (Unit.FAHR, "Cel"): lambda v: (v - 32) * 5 / 9,
}
# With no OBX-6 at all, only metrics that have a single unit in practice are read.
_UNIT_OPTIONAL = {Metric.SPO2, Metric.PERFUSION_INDEX, Metric.HEART_RATE, Metric.PULSE_RATE, Metric.RESP_RATE}

_MDIL_CODE = re.compile(r"([0-9A-Fa-f]{4})-([0-9A-Fa-f]{4})")
_DECIMAL_CODE = re.compile(r"\d{1,10}")


def parse_code(identifier: str, system: str) -> tuple[int, bool] | None:
    """(32-bit code, is_mdil) from a CE/CWE identifier in MDC decimal or MDIL hex; None if neither."""
    identifier, system = identifier.strip(), system.strip().upper()
    if m := _MDIL_CODE.fullmatch(identifier):
        if system in ("", "MDIL"):
            return mdc(int(m.group(1), 16), int(m.group(2), 16)), True
        return None
    if _DECIMAL_CODE.fullmatch(identifier) and system in ("", "MDC"):
        return int(identifier), False
    return None


def metric_for(identifier: str, system: str) -> Metric | None:
    """The metric an OBX-3 names, or None for anything this bridge does not read."""
    parsed = parse_code(identifier, system)
    if parsed is None:
        return None
    code, is_mdil = parsed
    if code in MDC_METRICS:
        return MDC_METRICS[code]
    return MDIL_PRIVATE.get(code) if is_mdil else None


def unit_for(identifier: str, text: str, system: str) -> Unit | None:
    """The unit of an OBX-6: MDC/MDIL code first, then a UCUM code, then the printed label."""
    parsed = parse_code(identifier, system)
    if parsed is not None and parsed[0] in MDC_UNITS:
        return MDC_UNITS[parsed[0]]
    for word in (identifier, text):
        if (unit := UNIT_WORDS.get(word.strip().lower())) is not None:
            return unit
    return None


def to_canonical(metric: Metric, value: float, unit: Unit | None, *, stated: bool = True) -> float | None:
    """value in the metric's canonical unit; None if the unit is unknown, wrong, or missing where it matters.

    stated says whether OBX-6 named a unit at all: an unknown unit is never taken for the canonical one.
    """
    canonical = unit_of(metric)
    if unit is None:
        return value if not stated and metric in _UNIT_OPTIONAL else None
    if unit == canonical:
        return value
    convert = _CONVERT.get((unit, canonical))
    return None if convert is None else convert(value)
