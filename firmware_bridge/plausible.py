"""What a monitor can plausibly have measured on a living patient, and when its clock can plausibly be.

Every codec's readings pass through one check (Codec._screen in codecs/base.py): a number outside its
metric's bounds here is no reading (counted as skip reason "implausible", the codec's status flagged
"implausible_value"), and a device time outside the clock window is dropped from its reading (which
keeps its value, and says "device_clock_implausible"). These bounds are for device readings; the wider
METRICS low/high of metrics.py are what a manual entry may be, and each bound here lies inside them.

The bounds reject what no patient and no working sensor gives (an SFLOAT of 9.8e-07 % read as SpO2, a
pulse of 3, a systolic of 420) and keep every real extreme, however rare: a reading wrongly dropped is a
value the crew never sees. Values the physiology allows at zero (apnoea, no exhaled CO2, a flat arterial
line) stay readings: they are the alarm, not noise.
"""
from __future__ import annotations

import calendar

from firmware_bridge.metrics import METRICS, Metric, ValueKind

# (lowest, highest) plausible value, inclusive, in the metric's canonical unit.
PLAUSIBLE: dict[Metric, tuple[float, float]] = {
    # Pulse oximeters state accuracy only for SpO2 70-100 % (ISO 80601-2-61; e.g. Mindray uMEC15 and
    # BeneHeart manuals: "0 % to 69 %: not specified"); below 30 % no oximeter gives a number a clinician
    # could act on (the review's floor), and 0 is the sensor-off value of several devices.
    Metric.SPO2: (30, 100),
    # Below 10 /min no monitor counts a rhythm (oximeter and ECG rate ranges start at 15-30 /min, e.g.
    # Mindray's Masimo module 20-300 /min): a lower count is noise or a lost signal. 350 is the metric's
    # bound, above any recorded tachyarrhythmia (infant SVT reaches about 300).
    Metric.HEART_RATE: (10, 350),
    Metric.PULSE_RATE: (10, 350),
    # 0 is apnoea, which monitors report as a rate of 0 and NEWS2 must score (RR <= 8 scores 3): kept.
    # 120 /min is the metric's bound, beyond neonatal tachypnoea.
    Metric.RESP_RATE: (0, 120),
    # A cuff is never inflated above 300 mmHg (IEC 80601-2-30's adult limit), so no cuff reading exceeds
    # it; oscillometric measuring ranges start well above these floors (systolic ~30, diastolic ~10 mmHg).
    Metric.BP_SYSTOLIC: (20, 300),
    Metric.BP_DIASTOLIC: (5, 300),
    Metric.BP_MEAN: (10, 300),
    # An arterial line reads near 0 in cardiac arrest and while zeroed: kept. No arterial pressure is
    # negative (that is a transducer offset) or above 300 mmHg outside a laboratory.
    Metric.IBP_SYSTOLIC: (0, 300),
    Metric.IBP_DIASTOLIC: (0, 300),
    Metric.IBP_MEAN: (0, 300),
    # The metric's bounds: the lowest core temperature survived is 13.7 C (Gilbert et al., Lancet 2000)
    # and the highest about 46.5 C; an ambulance carries deep hypothermia, so nothing warmer than 15 C is
    # dropped. Colder is a probe in the air (or the 9.8e-07 of a damaged FLOAT).
    Metric.TEMPERATURE: (15, 47),
    # 0 (no exhaled CO2: oesophageal tube, arrest) is the most urgent capnography value: kept.
    Metric.ETCO2: (0, 150),
    # Meters measure from 0.6 mmol/L (10 mg/dL) and show "LO" below it; 120 is the metric's bound.
    Metric.GLUCOSE: (0.5, 120),
    # Oximeters measure PI from 0.02-0.05 % to 20 % (Masimo; Mindray uMEC15 0.05-20 %).
    Metric.PERFUSION_INDEX: (0, 20),
    # Not judged beyond the metric's bounds: the shared HRS vector itself carries 33/1024 s.
    Metric.RR_INTERVAL: (0, 10),
    Metric.ENERGY_EXPENDED: (0, 65535),  # a counter (HRS 3.1.1.3), not physiology
    # Scores are entered by hand; their scales are the bounds.
    Metric.GCS_EYE: (1, 4),
    Metric.GCS_VERBAL: (1, 5),
    Metric.GCS_MOTOR: (1, 6),
    Metric.GCS_TOTAL: (3, 15),
    Metric.PAIN_SCORE: (0, 10),
}

# Codecs do not know the receive time (the driver stamps it on every reading anyway), so the window is
# fixed, not "near now": before 2000 is a clock that was never set (clocks restart at their epoch, 1970,
# 1980 or 2000, when their battery fails) and GATT Date Time or HL7 DTM can spell 1903 or 9000; no
# monitor clock reads 2100 or later. Masimo (20YY) and Nonin DF13 (century 20) cannot leave the window;
# a DF13 stamp that is no 20xx date is flagged by its codec.
CLOCK_FROM_MS = calendar.timegm((2000, 1, 1, 0, 0, 0, 0, 0, 0)) * 1000
CLOCK_UNTIL_MS = calendar.timegm((2100, 1, 1, 0, 0, 0, 0, 0, 0)) * 1000


def plausible(metric: Metric, value: float | str | bool) -> bool:
    """Whether a device could have measured this value on a living patient (text and booleans: always)."""
    if METRICS[metric].kind is not ValueKind.NUMBER or isinstance(value, bool | str):
        return True
    bounds = PLAUSIBLE.get(metric)
    return bounds is None or bounds[0] <= value <= bounds[1]


def clock_plausible(epoch_ms: int) -> bool:
    """Whether a device timestamp lies in the window a set monitor clock can show (2000-01-01 .. 2100-01-01)."""
    return CLOCK_FROM_MS <= epoch_ms < CLOCK_UNTIL_MS
