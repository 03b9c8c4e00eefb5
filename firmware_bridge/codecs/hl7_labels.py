"""What an OBX row's own labels and sub-id say it measures: to catch a row that names two measurements.

The code decides the metric (hl7_mdc). The rest of the row may name the measurement too:
- OBX-3 is a CWE (HL7 v2.5 ch. 2A): identifier ^ text ^ coding system [^ alternate identifier ^ alternate
  text ^ alternate system]. The texts are the sender's labels: IEEE 11073-10101 reference ids (PCD-01 writes
  e.g. 150021^MDC_PRESS_BLD_NONINV_SYS^MDC) or the short labels of the monitor's screen (Philips "NBPs").
- OBX-4, the sub-id, is the containment path MDS.VMD.channel.metric in small instance numbers (IHE PCD
  TF-2; GE writes 1.13.1.3), but some monitors put the metric's own MDC code last (Mindray: 1.1.9.150301).

A row whose code is an arterial-line mean and whose label is a cuff systolic (150031^MDC_PRESS_BLD_
NONINV_SYS) cannot be read as either: which one is wrong is unknowable here. Conservative, so that no
good row is lost: a label counts only when it is one this table knows (case aside), a plain phrase of
one vital sign ("Heart Rate"), or names a blood pressure without doubt (a cuff or a line word and one of
systolic/diastolic/mean: "NIBP Systolic"); it must name a different measurement. Anything else (free
text, a word like "arterial" that cuff monitors use too, an instance number) says nothing.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from firmware_bridge.codecs.hl7_mdc import MDC_METRICS, SCADA, mdc
from firmware_bridge.metrics import Metric

# The ECG and the oximeter count the same beats (NEWS2's "pulse" is either) and monitors label both "HR":
# heart_rate and pulse_rate never contradict each other. Every other metric is a measurement of its own.
BEAT_RATE = "beat_rate"
_SAME = {Metric.HEART_RATE: BEAT_RATE, Metric.PULSE_RATE: BEAT_RATE}
# Measurements outside the vocabulary that a monitor may send (names for the log, not metrics).
PAP, CVP, SKIN_TEMP, BLOOD_TEMP, PVC_RATE = ("pulmonary_artery_pressure", "central_venous_pressure",
                                             "skin_temperature", "blood_temperature", "pvc_rate")


def _measurement(metric: Metric | str) -> str:
    return _SAME.get(metric, str(metric)) if isinstance(metric, Metric) else metric


def _names(what: Metric | str, *labels: str) -> dict[str, str]:
    return {label.upper(): _measurement(what) for label in labels}


def _pressures(sys_dia_mean: tuple[Metric | str, Metric | str, Metric | str], *stems: str,
               short: tuple[str, ...] = ()) -> dict[str, str]:
    """MDC reference ids STEM_SYS/_DIA/_MEAN (IEEE 11073-10101) and screen labels like NBPs/NBPd/NBPm."""
    out: dict[str, str] = {}
    for what, suffix, letter in zip(sys_dia_mean, ("SYS", "DIA", "MEAN"), "sdm", strict=True):
        out |= _names(what, *(f"{stem}_{suffix}" for stem in stems), *(f"{s}{letter}" for s in short))
    return out


_CUFF = (Metric.BP_SYSTOLIC, Metric.BP_DIASTOLIC, Metric.BP_MEAN)
_LINE = (Metric.IBP_SYSTOLIC, Metric.IBP_DIASTOLIC, Metric.IBP_MEAN)

# Upper-cased label -> the measurement it names. The MDC reference ids of hl7_mdc's codes (its sources),
# the Philips labels of [EFF] (SpO2, HR, Pulse, NBPs, Resp, etCO2), and well-known measurements outside the
# vocabulary that a monitor may send (pulmonary and central venous pressures, skin and blood temperature,
# the PVC rate): a row coded as one of ours and labelled as one of those is contradictory too.
LABELS: dict[str, str] = {
    **_names(Metric.HEART_RATE, "MDC_ECG_HEART_RATE", "HR"),
    **_names(Metric.PULSE_RATE, "MDC_PULS_RATE", "MDC_BLD_PULS_RATE_INV", "MDC_PULS_OXIM_PULS_RATE",
             "NOM_PLETH_PULS_RATE", "MDC_PULS_RATE_NON_INV", "NOM_PRESS_BLD_NONINV_PULS_RATE", "Pulse"),
    **_names(Metric.SPO2, "MDC_PULS_OXIM_SAT_O2", "SpO2"),
    **_pressures(_CUFF, "MDC_PRESS_BLD_NONINV", "MDC_PRESS_CUFF", short=("NBP", "NIBP")),
    **_pressures(_LINE, "MDC_PRESS_BLD_AORT", "MDC_PRESS_BLD_ART", "MDC_PRESS_BLD_ART_ABP", "MDC_PRESS_BLD_ART_UMB",
                 "NOM_PRESS_BLD_ART_FEMORAL", "NOM_PRESS_BLD_ART_BRACHIAL", short=("ABP", "ART")),
    **_names(Metric.RESP_RATE, "MDC_RESP", "MDC_RESP_RATE", "MDC_AWAY_RESP_RATE", "MDC_TTHOR_RESP_RATE", "Resp",
             "awRR"),
    **_names(Metric.ETCO2, "MDC_CONC_AWAY_CO2_ET", "MDC_AWAY_CO2_ET", "etCO2"),
    **_names(Metric.TEMPERATURE, "MDC_TEMP", "MDC_TEMP_BODY", "MDC_TEMP_CORE", "MDC_TEMP_ESOPH", "MDC_TEMP_NASOPH",
             "MDC_TEMP_TYMP", "MDC_TEMP_RECT", "MDC_TEMP_ORAL", "MDC_TEMP_EAR", "MDC_TEMP_AXILLA", "NOM_TEMP_GEN_1",
             "NOM_TEMP_VESICAL", "NOM_TEMP_ORAL", "NOM_TEMP_AXIL"),
    **_names(Metric.PERFUSION_INDEX, "MDC_PULS_OXIM_PERF_REL", "MDC_BLD_PERF_INDEX", "Perf"),
    **_pressures((PAP, PAP, PAP), "MDC_PRESS_BLD_ART_PULM", short=("PAP",)),
    **_names(PAP, "MDC_PRESS_BLD_ART_PULM"),
    **_pressures((CVP, CVP, CVP), "MDC_PRESS_BLD_VEN_CENT"),
    **_names(CVP, "MDC_PRESS_BLD_VEN_CENT", "CVP"),
    **_names(SKIN_TEMP, "MDC_TEMP_SKIN"),
    **_names(BLOOD_TEMP, "MDC_TEMP_BLD"),
    **_names(PVC_RATE, "MDC_ECG_V_P_C_RATE", "PVC"),
}

# Whole labels, as some monitors spell the vital sign out (compared as lower-case words).
PHRASES: dict[str, str] = {
    **{p: BEAT_RATE for p in ("heart rate", "pulse rate")},
    **{p: str(Metric.SPO2) for p in ("oxygen saturation", "pulse oximetry")},
    **{p: str(Metric.RESP_RATE) for p in ("respiratory rate", "respiration rate", "resp rate")},
    **{p: str(Metric.TEMPERATURE) for p in ("temperature", "body temperature")},
    **{p: str(Metric.ETCO2) for p in ("end tidal co2", "etco2")},
    "perfusion index": str(Metric.PERFUSION_INDEX),
}
# Words that say which blood pressure without doubt. Not "arterial": "mean arterial pressure" is what
# cuff monitors call their mean too; "non-invasive" is read as one word before "invasive" is.
_CUFF_WORDS = frozenset({"nibp", "nbp", "cuff", "noninvasive"})
_LINE_WORDS = frozenset({"abp", "art", "ibp", "invasive", "aortic"})
_PART_WORDS = {"sys": 0, "systolic": 0, "dia": 1, "diastolic": 1, "mean": 2}
_NON_INVASIVE = re.compile(r"non[\s_-]*invasive")
_WORD = re.compile(r"[a-z0-9]+")


def _named_in_words(label: str) -> str | None:
    words = _WORD.findall(_NON_INVASIVE.sub("noninvasive", label.lower()))
    if (phrase := PHRASES.get(" ".join(words))) is not None:
        return phrase
    kinds = {_CUFF if w in _CUFF_WORDS else _LINE for w in words if w in _CUFF_WORDS | _LINE_WORDS}
    parts = {_PART_WORDS[w] for w in words if w in _PART_WORDS}
    if len(kinds) == 1 and len(parts) == 1:
        return _measurement(kinds.pop()[parts.pop()])
    return None


def named_by(label: str) -> str | None:
    """The measurement a label names, if it names one without doubt; None otherwise."""
    return LABELS.get(label.strip().upper()) or _named_in_words(label)


# Decimal MDC codes an OBX-4 may end with: ours, and those outside the vocabulary named above (the same
# SCADA partition arithmetic as hl7_mdc; 148066 as in the GE vector, 150045 and 150087 as PCD-01 rows carry).
SUB_ID_CODES: dict[int, str] = {
    **{code: _measurement(metric) for code, metric in MDC_METRICS.items()},
    mdc(SCADA, 16994): PVC_RATE,  # 148066 MDC_ECG_V_P_C_RATE
    **{mdc(SCADA, term): PAP for term in (18973, 18974, 18975)},  # 150045-150047 MDC_PRESS_BLD_ART_PULM_*
    **{mdc(SCADA, term): CVP for term in (19013, 19014, 19015)},  # 150085-150087 MDC_PRESS_BLD_VEN_CENT_*
    mdc(SCADA, 19316): SKIN_TEMP,  # 150388 MDC_TEMP_SKIN
}


def contradiction(metric: Metric, labels: Iterable[str], codes: Iterable[Metric | None], sub_id: str) -> str | None:
    """What in the row names a measurement other than `metric` (for the log); None if nothing known does.

    labels: OBX-3's texts (CWE-2, CWE-5); codes: the metrics its identifiers map to (CWE-1, CWE-4);
    sub_id: OBX-4 as sent.
    """
    want = _measurement(metric)
    for label in labels:
        named = named_by(label)
        if named is not None and named != want:
            return f"label {label.strip()!r} names {named}"
    for code in codes:
        if code is not None and _measurement(code) != want:
            return f"the alternate identifier names {code}"
    last = sub_id.strip().rpartition(".")[2]
    if last.isascii() and last.isdigit() and (named := SUB_ID_CODES.get(int(last))) is not None and named != want:
        return f"sub-id {sub_id.strip()!r} names {named}"
    return None
