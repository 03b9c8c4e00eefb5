"""NEWS2 (Royal College of Physicians, 2017): Chart 1 scoring, Chart 2 thresholds and triggers.

Pure: the latest value of each parameter in, the score and its parts out. Band edges follow the
chart exactly; values between printed bands (e.g. 35.05 C, RR 20.5) are rounded to the chart's
resolution first (whole numbers, temperature to 0.1), a documented clinical-safety decision: the
chart has no band for them, and rounding is what a clinician reading the monitor does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, cast

Risk = Literal["low", "low-medium", "medium", "high"]
SpO2Scale = Literal[1, 2]
PARAMETERS = ("resp_rate", "spo2", "oxygen_supplement", "bp_systolic", "pulse", "consciousness", "temperature")

RESPONSE = {
    "low": "ward-based response; minimum 4-12-hourly observations",
    "low-medium": "urgent ward-based response (a single red score); minimum 1-hourly",
    "medium": "key threshold for urgent response; minimum 1-hourly",
    "high": "urgent or emergency response; continuous monitoring",
}


@dataclass(frozen=True, slots=True)
class News2Inputs:
    """Latest value of each parameter; None when not measured."""

    resp_rate: float | None = None
    spo2: float | None = None
    oxygen_supplement: bool | None = None
    bp_systolic: float | None = None
    pulse: float | None = None
    consciousness: str | None = None
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class News2Result:
    total: int | None
    risk: Risk | None
    scale: SpO2Scale
    parameters: dict[str, int | None]
    missing: list[str] = field(default_factory=list)
    red_score: bool = False
    response: str = ""
    # The band the scored parameters already guarantee: missing ones score 0 or more, so the partial sum
    # is a floor (a 3 in one parameter is at least low-medium). Equal to risk when complete.
    risk_at_least: Risk = "low"


def _whole(x: float) -> int:
    return int(Decimal(str(x)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _tenth(x: float) -> Decimal:
    return Decimal(str(x)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def score_resp_rate(rr: float) -> int:
    v = _whole(rr)
    return 3 if v <= 8 else 1 if v <= 11 else 0 if v <= 20 else 2 if v <= 24 else 3


def score_spo2(spo2: float, scale: int, on_oxygen: bool) -> int:
    v = _whole(spo2)
    if scale == 1:
        return 3 if v <= 91 else 2 if v <= 93 else 1 if v <= 95 else 0
    # Scale 2 (prescribed 88-92% target): high saturations score only on oxygen.
    if v <= 83:
        return 3
    if v <= 85:
        return 2
    if v <= 87:
        return 1
    if v <= 92 or not on_oxygen:
        return 0
    return 1 if v <= 94 else 2 if v <= 96 else 3


def score_oxygen(on_oxygen: bool) -> int:
    return 2 if on_oxygen else 0


def score_systolic(sbp: float) -> int:
    v = _whole(sbp)
    return 3 if v <= 90 else 2 if v <= 100 else 1 if v <= 110 else 0 if v <= 219 else 3


def score_pulse(pulse: float) -> int:
    v = _whole(pulse)
    return 3 if v <= 40 else 1 if v <= 50 else 0 if v <= 90 else 1 if v <= 110 else 2 if v <= 130 else 3


def score_consciousness(acvpu: str) -> int:
    # New confusion (C), voice, pain, unresponsive all score 3.
    return 0 if acvpu.upper() == "A" else 3


def score_temperature(temp_c: float) -> int:
    v = _tenth(temp_c)
    if v <= Decimal("35.0"):
        return 3
    if v <= Decimal("36.0"):
        return 1
    if v <= Decimal("38.0"):
        return 0
    if v <= Decimal("39.0"):
        return 1
    return 2


def risk_band(total: int, red: bool) -> Risk:
    """Chart 2 precedence: 7+ high; 5-6 medium; else a single 3 is low-medium; else low."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if red:
        return "low-medium"
    return "low"


def news2(inputs: News2Inputs, scale: int = 1) -> News2Result:
    """Score every parameter present; a total only when none is missing (a partial sum under-calls risk)."""
    if scale not in (1, 2):
        raise ValueError("SpO2 scale is 1 or 2")
    checked = cast(SpO2Scale, scale)  # mypy does not narrow an int by `in`
    on_o2 = inputs.oxygen_supplement
    scores: dict[str, int | None] = {
        "resp_rate": None if inputs.resp_rate is None else score_resp_rate(inputs.resp_rate),
        "spo2": None if inputs.spo2 is None else _spo2_score(inputs.spo2, scale, on_o2),
        "oxygen_supplement": None if on_o2 is None else score_oxygen(on_o2),
        "bp_systolic": None if inputs.bp_systolic is None else score_systolic(inputs.bp_systolic),
        "pulse": None if inputs.pulse is None else score_pulse(inputs.pulse),
        "consciousness": None if inputs.consciousness is None else score_consciousness(inputs.consciousness),
        "temperature": None if inputs.temperature is None else score_temperature(inputs.temperature),
    }
    missing = [p for p in PARAMETERS if scores[p] is None]
    red = any(s == 3 for s in scores.values())
    known = sum(s for s in scores.values() if s is not None)
    floor = risk_band(known, red)
    if missing:
        # Never hide urgency: an incomplete score still says what the known parameters already demand.
        urgent = f"at least {floor}: {RESPONSE[floor]}; " if floor != "low" else ""
        return News2Result(total=None, risk=None, scale=checked, parameters=scores, missing=missing, red_score=red,
                           response=f"incomplete: {urgent}measure " + ", ".join(missing), risk_at_least=floor)
    return News2Result(total=known, risk=floor, scale=checked, parameters=scores, missing=[], red_score=red,
                       response=RESPONSE[floor] if known else "routine; minimum 12-hourly observations",
                       risk_at_least=floor)


def _spo2_score(spo2: float, scale: int, on_oxygen: bool | None) -> int | None:
    """SpO2's score; on scale 2 with air/oxygen not entered, only where the chart gives the same score
    both ways (RCP 2017 Chart 1: scale 2 splits air and oxygen only at 93% and above)."""
    if on_oxygen is not None or scale == 1:
        return score_spo2(spo2, scale, bool(on_oxygen))
    on_air, on_o2 = score_spo2(spo2, scale, False), score_spo2(spo2, scale, True)
    return on_air if on_air == on_o2 else None
