"""`edge-app doctor` puts a device's skip counters in a technician's words (and WARNs on HL7 code/label conflicts)."""
from __future__ import annotations

import time

from edge_app.cli.checks import OK, WARN
from edge_app.cli.doctor import _device
from edge_app.cli.skips import skipped_summary
from edge_app.config import DeviceConfig
from edge_app.model.devices import Device

MONITOR = DeviceConfig(name="monitor", protocol="hl7-oru", listen=("0.0.0.0", 2575))


def live(**counters: int) -> Device:
    base = {"bytes_in": 5000, "frames_ok": 40, "frames_bad": 0}
    return Device(name="monitor", protocol="hl7-oru", port=None, state="connected", detail="", since=0,
                  last_frame_at=int(time.time() * 1000), status_flags=[], counters=base | counters, latest={})


def test_code_label_conflicts_are_named_and_warned_with_the_fix() -> None:
    row = _device(MONITOR, live(skipped_code_label_conflict=3, skipped_unknown_code=80), daemon_up=True)
    assert row.status == WARN
    assert "3 HL7 rows whose code and label name different measurements" in row.detail
    assert "unknown_code" not in row.detail and "skipped_" not in row.detail  # routine skips stay in --json
    assert "label" in row.fix and "not recorded" in row.fix


def test_implausible_values_are_named_but_are_no_fault_of_the_box() -> None:
    row = _device(MONITOR, live(skipped_implausible=1), daemon_up=True)
    assert row.status == OK and "1 value no patient can have (not recorded)" in row.detail


def test_no_skips_no_words() -> None:
    row = _device(MONITOR, live(skipped_unknown_code=3), daemon_up=True)
    assert row.status == OK and "not recorded" not in row.detail


def test_skipped_summary_plural_and_order() -> None:
    assert skipped_summary({"skipped_implausible": 2, "skipped_code_label_conflict": 1, "frames_ok": 9}) == (
        "1 HL7 row whose code and label name different measurements, 2 values no patient can have (not recorded)")
    assert skipped_summary({"skipped_header": 4}) == ""
