"""A cuff frame whose systolic is not above its diastolic is stored flagged, and is never the current BP."""
from __future__ import annotations

from edge_app.clinical.vitals import VitalsRules, current_vitals
from edge_app.daemon.devices import flag_inconsistent_bp
from firmware_bridge.flags import BP_INCONSISTENT, is_unreliable
from firmware_bridge.metrics import Metric
from firmware_bridge.reading import Reading
from tests.edge_app.clinical.records import T0, obs


def frame(systolic: float, diastolic: float) -> list[Reading]:
    return [Reading.of(Metric.BP_SYSTOLIC, systolic), Reading.of(Metric.BP_DIASTOLIC, diastolic),
            Reading.of(Metric.PULSE_RATE, 72)]


def test_a_systolic_at_or_below_its_diastolic_flags_both_halves_only() -> None:
    for systolic, diastolic in ((80, 90), (85, 85)):
        got = flag_inconsistent_bp(frame(systolic, diastolic))
        assert [BP_INCONSISTENT in r.flags for r in got] == [True, True, False]
        assert is_unreliable(got[0].flags)
    assert flag_inconsistent_bp(frame(120, 80)) == frame(120, 80)
    assert flag_inconsistent_bp([Reading.of(Metric.BP_SYSTOLIC, 60)]) == [Reading.of(Metric.BP_SYSTOLIC, 60)]


def test_a_flagged_bp_is_not_the_current_one() -> None:
    rows = [obs(1, "bp_systolic", 130, T0 - 60_000, "cuff"), obs(2, "bp_systolic", 80, T0, "cuff",
                                                                  flags=[BP_INCONSISTENT])]
    v = current_vitals(rows, VitalsRules(), T0)["bp_systolic"]
    assert v.value is None and v.state == "unreliable"
