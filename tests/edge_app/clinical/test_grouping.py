"""Which readings were one measurement: blood-pressure pairs and complete GCS assessments."""
from __future__ import annotations

from edge_app.clinical.grouping import blood_pressure_pairs, gcs_groups, taken_together
from tests.edge_app.clinical.records import MIN, T0, obs


def ids(groups: list) -> list[list[int]]:
    return [[r.id for r in g] for g in groups]


def test_taken_together() -> None:
    cuff = obs(1, "bp_systolic", 120, T0, "bp-cuff")
    assert taken_together(cuff, obs(2, "bp_diastolic", 80, T0 + 1000, "bp-cuff"))
    assert not taken_together(cuff, obs(2, "bp_diastolic", 80, T0 + 1001, "bp-cuff"))
    assert not taken_together(cuff, obs(2, "bp_diastolic", 80, T0, "other-cuff"))
    assert not taken_together(cuff, obs(2, "bp_diastolic", 80, T0))  # a device and a hand entry
    # the monitor's own stamp says one frame, however late the box received the second reading
    assert taken_together(obs(1, "bp_systolic", 120, T0, "bp-cuff", device_time=5),
                          obs(2, "bp_diastolic", 80, T0 + 9000, "bp-cuff", device_time=5))
    assert taken_together(obs(1, "bp_systolic", 120, T0), obs(2, "bp_diastolic", 80, T0 + 2 * MIN))
    assert not taken_together(obs(1, "bp_systolic", 120, T0), obs(2, "bp_diastolic", 80, T0 + 2 * MIN + 1))


def test_blood_pressure_pairs_oldest_first_each_reading_used_once() -> None:
    rows = [obs(5, "bp_systolic", 130, T0 + 10 * MIN, "bp-cuff"), obs(6, "bp_diastolic", 85, T0 + 10 * MIN, "bp-cuff"),
            obs(1, "bp_systolic", 120, T0, "bp-cuff"), obs(2, "bp_diastolic", 80, T0, "bp-cuff"),
            obs(3, "bp_mean", 93, T0, "bp-cuff"),
            obs(4, "bp_systolic", 119, T0 + 500, "bp-cuff"),  # a second systolic near the same diastolic
            obs(7, "bp_diastolic", 60, T0 + 20 * MIN, "bp-cuff")]
    pairs, rest = blood_pressure_pairs(rows)
    assert ids(pairs) == [[1, 2, 3], [5, 6]]
    assert [r.id for r in rest] == [4, 7]


def test_complete_gcs_with_its_total_and_what_is_left() -> None:
    rows = [obs(1, "gcs_eye", 4, T0), obs(2, "gcs_verbal", 4, T0 + 20_000), obs(3, "gcs_motor", 6, T0 + 40_000),
            obs(4, "gcs_total", 14, T0 + 50_000),
            obs(5, "gcs_eye", 3, T0 + 10 * MIN), obs(6, "gcs_verbal", "NT", T0 + 10 * MIN),
            obs(7, "gcs_motor", 5, T0 + 10 * MIN), obs(8, "gcs_total", "NT", T0 + 10 * MIN),
            obs(9, "gcs_eye", 4, T0 + 20 * MIN), obs(10, "gcs_verbal", 5, T0 + 20 * MIN),
            obs(11, "gcs_motor", 6, T0 + 20 * MIN), obs(12, "gcs_total", 13, T0 + 20 * MIN),  # disagrees: kept
            obs(13, "gcs_motor", 6, T0 + 30 * MIN),                                            # alone: kept
            obs(14, "spo2", 97, T0, "oximeter")]
    groups, rest = gcs_groups(rows)
    assert [([r.id for r in parts], total) for parts, total in groups] == \
        [([1, 2, 3], 14), ([5, 6, 7], None), ([9, 10, 11], 15)]
    assert [r.id for r in rest] == [12, 13, 14]
