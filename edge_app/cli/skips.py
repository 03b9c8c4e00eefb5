"""A device's skip counters ("skipped_<reason>", firmware_bridge.driver) in words a technician reads."""
from __future__ import annotations

from collections.abc import Mapping

# The reasons worth a technician's eye, singular and plural, in the order shown. Routine skips (HL7 device
# rows, codes outside the vocabulary, a probe off) stay in the counters (`edge-app doctor --json`, the API).
SKIP_WORDS: dict[str, tuple[str, str]] = {
    # hl7_oru: a row whose code says one measurement and its own label or sub-id another (hl7_labels.py).
    "code_label_conflict": ("HL7 row whose code and label name different measurements",
                            "HL7 rows whose code and label name different measurements"),
    # Every codec: outside firmware_bridge.plausible's physiological bounds (e.g. SpO2 9.8e-07 %).
    "implausible": ("value no patient can have", "values no patient can have"),
    # hl7_oru: a unit it cannot convert to the metric's own (e.g. etCO2 in %).
    "unit": ("value in a unit it cannot convert", "values in a unit it cannot convert"),
}


def skipped_summary(counters: Mapping[str, int]) -> str:
    """E.g. "3 HL7 rows whose code and label name different measurements (not recorded)"; "" for none."""
    parts = []
    for reason, (one, many) in SKIP_WORDS.items():
        n = counters.get(f"skipped_{reason}", 0)
        if n:
            parts.append(f"{n} {one if n == 1 else many}")
    return f"{', '.join(parts)} (not recorded)" if parts else ""
