"""Glasgow Coma Scale: ranges, NT (not testable), totals and the handover wording."""
from __future__ import annotations

import pytest

from edge_app.clinical.gcs import (
    ASSESSMENT_WINDOW_MS,
    NT,
    Gcs,
    GcsError,
    assessments,
    component,
    describe,
    gcs_total,
)
from edge_app.model.observation import Observation, Value
from tests.edge_app.clinical.records import obs


@pytest.mark.parametrize(("e", "v", "m", "total"), [
    (4, 5, 6, 15),   # fully conscious
    (1, 1, 1, 3),    # the floor: no response at all scores 3, not 0
    (4, 4, 6, 14),   # confused
    (2, 2, 4, 8),    # the classic "8 intubate" threshold
])
def test_totals(e: int, v: int, m: int, total: int) -> None:
    assert gcs_total(e, v, m) == total


@pytest.mark.parametrize("parts", [(NT, 4, 6), (4, "NT", 6), (4, 4, "nt"), ("NT", "NT", "NT")])
def test_any_nt_means_no_total(parts: tuple) -> None:
    assert gcs_total(*parts) is None


def test_describe_with_a_total() -> None:
    assert describe(4, 4, 6) == "GCS 14 (E4 V4 M6)"
    assert describe(1, 1, 1) == "GCS 3 (E1 V1 M1)"


def test_describe_intubated_names_the_untestable_component() -> None:
    assert describe(4, "NT", 6) == "GCS E4 VNT M6 (no total: verbal not testable)"
    assert describe("NT", "NT", 5) == "GCS ENT VNT M5 (no total: eye, verbal not testable)"


@pytest.mark.parametrize(("name", "bad"), [
    ("eye", 0), ("eye", 5), ("verbal", 6), ("motor", 7), ("motor", 0), ("verbal", -1),
])
def test_out_of_range_names_the_component_and_its_range(name: str, bad: int) -> None:
    with pytest.raises(GcsError, match=f"GCS {name} must be"):
        component(name, bad)


def test_error_from_total_names_the_bad_component() -> None:
    with pytest.raises(ValueError, match="GCS motor must be 1-6 or NT, got 9"):
        gcs_total(4, 5, 9)
    with pytest.raises(ValueError, match="GCS eye"):
        describe("X", 5, 6)


@pytest.mark.parametrize("bad", [True, False, 4.5, "four", "", None, [4]])
def test_non_scores_are_refused(bad: object) -> None:
    with pytest.raises(GcsError, match="GCS verbal"):
        component("verbal", bad)


def test_store_shapes_are_accepted() -> None:
    # SQLite REAL columns and typed-in text reach us as 4.0 and "4".
    assert component("eye", 4.0) == 4
    assert component("motor", " 6 ") == 6
    assert component("verbal", " nt ") == NT


def test_unknown_component() -> None:
    with pytest.raises(GcsError, match="unknown GCS component"):
        component("pupils", 3)


def test_value_object() -> None:
    g = Gcs.of(3, NT, 5)
    assert (g.total, g.not_testable(), g.codes()) == (None, ["verbal"], "E3 VNT M5")
    assert Gcs.of(3, 4, 5).total == 12
    with pytest.raises(AttributeError):
        g.eye = 4  # type: ignore[misc]


def row(i: int, metric: str, value: Value, t: int) -> Observation:
    return obs(i, metric, value, t)


def test_components_keyed_in_one_by_one_are_one_assessment() -> None:
    rows = [row(1, "gcs_eye", 4, 0), row(2, "gcs_verbal", 4, 20_000), row(3, "gcs_motor", 6, 45_000),
            row(4, "spo2", 97, 46_000),                                  # not GCS: ignored
            row(5, "gcs_eye", 3, 600_000), row(6, "gcs_verbal", "NT", 600_000),
            row(7, "gcs_motor", 5, 600_000 + ASSESSMENT_WINDOW_MS + 1),  # too late: its own
            row(8, "gcs_eye", 2, 900_000), row(9, "gcs_eye", 1, 900_000)]  # a repeat starts a new one
    groups = [[r.id for r in g] for g in assessments(reversed(rows))]
    assert groups == [[1, 2, 3], [5, 6], [7], [8], [9]]
