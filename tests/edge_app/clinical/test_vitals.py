"""The one rule for the current value of each vital sign (clinical/vitals.py), case by case, and NEWS2 scored
from it: each finding of the "One clinical truth" review as a case."""
from __future__ import annotations

import pytest

from edge_app.clinical.assess import news2_of, news2_trend
from edge_app.clinical.vitals import (
    DEFAULT_FRESH_DEVICE_MS,
    DEFAULT_FRESH_MANUAL_MS,
    VitalsRules,
    chart_value,
    current_vitals,
    pulse_for_news2,
)
from edge_app.model.observation import Observation
from tests.edge_app.clinical.records import MIN, T0, obs, vitals_of

HOUR = 60 * MIN
S = 1000
NEWS2_METRICS = ["resp_rate", "spo2", "oxygen_supplement", "bp_systolic", "heart_rate", "pulse_rate",
                 "consciousness", "temperature"]
VALUES = {"resp_rate": 16, "spo2": 97, "oxygen_supplement": False, "bp_systolic": 120, "heart_rate": 70,
          "pulse_rate": 70, "consciousness": "A", "temperature": 37.0}


def normal_set(t: int, first_id: int = 1) -> list[Observation]:
    """NEWS2 0, measured by the crew at t."""
    return [obs(first_id + i, m, v, t) for i, (m, v) in enumerate(
        [("resp_rate", 16), ("bp_systolic", 120), ("temperature", 37.0), ("consciousness", "A"),
         ("oxygen_supplement", False), ("spo2", 97), ("heart_rate", 70)])]


# -- freshness ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", NEWS2_METRICS)
@pytest.mark.parametrize("device", [None, "monitor"])
def test_a_minute_old_value_is_fresh_and_three_hours_old_is_stale(metric: str, device: str | None) -> None:
    if device and metric in ("consciousness", "oxygen_supplement"):
        return  # only the crew records these
    row = [obs(1, metric, VALUES[metric], T0, device)]
    fresh = vitals_of(row, now=T0 + MIN)[metric]
    stale = vitals_of(row, now=T0 + 3 * HOUR)[metric]
    assert (fresh.state, fresh.stale, fresh.age_s, fresh.value) == ("current", False, 60, VALUES[metric])
    assert (stale.state, stale.stale, stale.age_s, stale.value) == ("stale", True, 3 * 3600, VALUES[metric])


def test_the_freshness_window_is_inclusive_and_configurable() -> None:
    window = DEFAULT_FRESH_DEVICE_MS["spo2"]
    row = [obs(1, "spo2", 95, T0, "oximeter")]
    assert vitals_of(row, now=T0 + window)["spo2"].state == "current"
    assert vitals_of(row, now=T0 + window + 1)["spo2"].state == "stale"
    assert vitals_of(row, now=T0 + 30 * S, fresh_device_ms={"spo2": 20 * S})["spo2"].state == "stale"
    assert DEFAULT_FRESH_MANUAL_MS["resp_rate"] == HOUR and DEFAULT_FRESH_DEVICE_MS["bp_systolic"] == 30 * MIN


def test_a_stale_value_is_not_scored_and_news2_names_it() -> None:
    # RR 30 recorded 23 hours ago is not the patient's breathing now.
    rows = [*normal_set(T0 - 23 * HOUR), *normal_set(T0 - MIN, 20)[1:], obs(40, "resp_rate", 30, T0 - 23 * HOUR)]
    got = news2_of(vitals_of(rows), 1)
    assert got.total is None and got.stale == ["resp_rate"] and "resp_rate" in got.missing
    assert "resp_rate" not in got.inputs and got.parameters.resp_rate is None


def test_a_reading_the_clock_now_puts_in_the_future_is_age_zero() -> None:
    # The box's clock stepped back an hour after this reading: it is not stale, nor negative.
    v = vitals_of([obs(1, "spo2", 95, T0 + HOUR, "oximeter")])["spo2"]
    assert (v.state, v.age_s) == ("current", 0)


# -- manual entries and devices --------------------------------------------------------------------------
def test_an_old_manual_heart_rate_does_not_beat_the_oximeters_pulse_now() -> None:
    rows = [*normal_set(T0 - 3 * HOUR), *normal_set(T0 - MIN, 20)[:-1], obs(50, "pulse_rate", 135, T0 - S, "oximeter")]
    vitals = vitals_of(rows)
    assert vitals["heart_rate"].state == "stale"
    pulse = pulse_for_news2(vitals)
    assert pulse is not None and (pulse.metric, pulse.value, pulse.source) == ("pulse_rate", 135, "oximeter")
    got = news2_of(vitals, 1)
    assert got.parameters.pulse == 3 and got.total == 3 and got.risk == "low-medium" and got.red_score


def test_a_manual_entry_outranks_the_monitor_for_five_minutes_then_the_monitor_takes_over() -> None:
    rows = [obs(1, "spo2", 97, T0 - 2 * S, "oximeter"), obs(2, "spo2", 88, T0 - S),
            obs(3, "spo2", 97, T0, "oximeter")]  # the probe says 97 a second after the crew entered 88
    now = vitals_of(rows, now=T0)["spo2"]
    assert (now.value, now.source, now.disagree) == (88, "manual", True)
    assert [(o.source, o.value) for o in now.others] == [("oximeter", 97)]
    later = [*rows, obs(4, "spo2", 96, T0 + 5 * MIN, "oximeter")]
    after = vitals_of(later, now=T0 + 5 * MIN)["spo2"]
    assert (after.value, after.source) == (96, "oximeter")
    assert [(o.source, o.value) for o in after.others] == [("manual", 88)]


def test_a_manual_entry_stays_current_while_no_device_is_fresh() -> None:
    rows = [obs(1, "spo2", 97, T0 - 20 * MIN, "oximeter"), obs(2, "spo2", 93, T0 - 10 * MIN)]
    v = vitals_of(rows)["spo2"]
    assert (v.value, v.source, v.state) == (93, "manual", "current")
    assert v.others[0].stale


def test_a_back_dated_entry_has_precedence_only_for_what_is_left_of_its_window() -> None:
    # Entered now, but stated as taken 10 minutes ago: its 5 minutes are over.
    rows = [obs(1, "resp_rate", 14, T0 - S, "capnograph"), obs(2, "resp_rate", 28, T0 - 10 * MIN)]
    assert vitals_of(rows)["resp_rate"].source == "capnograph"


def test_the_first_configured_device_wins_while_fresh_and_priority_changes_it() -> None:
    rows = [obs(1, "spo2", 92, T0 - S, "ox-b"), obs(2, "spo2", 97, T0 - S, "ox-a")]
    v = vitals_of(rows, device_order=("ox-a", "ox-b"))["spo2"]
    assert (v.value, v.source, v.disagree) == (97, "ox-a", True)
    assert [(o.source, o.value) for o in v.others] == [("ox-b", 92)]
    assert vitals_of(rows, device_order=("ox-b", "ox-a"))["spo2"].source == "ox-b"
    # The preferred one going quiet: the other takes over while it is fresh.
    quiet = [obs(1, "spo2", 92, T0 - S, "ox-b"), obs(2, "spo2", 97, T0 - 3 * MIN, "ox-a")]
    assert vitals_of(quiet, device_order=("ox-a", "ox-b"))["spo2"].source == "ox-b"


def test_sources_that_agree_at_chart_resolution_do_not_disagree() -> None:
    rows = [obs(1, "temperature", 37.04, T0 - S, "probe-a"), obs(2, "temperature", 36.96, T0 - S, "probe-b")]
    v = vitals_of(rows, device_order=("probe-a", "probe-b"))["temperature"]
    assert v.value == 37.04 and not v.disagree
    assert chart_value("temperature", 37.05) == 37.1 and chart_value("spo2", 94.5) == 95


# -- unreliable readings -----------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["sensor_off", "low_signal_iq", "low_perfusion", "no_sensor_contact",
                                  "questionable_pulse", "out_of_track", "sensor_disconnected", "demo"])
def test_a_reading_flagged_unreliable_is_never_the_current_value(flag: str) -> None:
    rows = [obs(1, "spo2", 96, T0 - 5 * S, "oximeter"), obs(2, "spo2", 71, T0 - S, "oximeter", flags=[flag])]
    v = vitals_of(rows)["spo2"]
    assert v.value is None and v.state == "unreliable" and flag in v.flags
    assert [(o.value, o.reliable, o.flags) for o in v.others] == [(71, False, [flag])]
    assert news2_of(vitals_of(rows), 1).parameters.spo2 is None


def test_an_unreliable_reading_leaves_the_other_device_current() -> None:
    rows = [obs(1, "spo2", 71, T0 - S, "ox-a", flags=["sensor_off"]), obs(2, "spo2", 95, T0 - S, "ox-b")]
    v = vitals_of(rows, device_order=("ox-a", "ox-b"))["spo2"]
    assert (v.value, v.source) == (95, "ox-b")
    assert [(o.source, o.reliable) for o in v.others] == [("ox-a", False)]


def test_information_flags_leave_a_value_current() -> None:
    v = vitals_of([obs(1, "spo2", 89, T0 - S, "oximeter", flags=["spo2_low", "alarm_active"])])["spo2"]
    assert (v.value, v.state, v.flags) == (89, "current", ["spo2_low", "alarm_active"])


def test_a_device_whose_live_status_is_unreliable_has_no_current_value() -> None:
    # A Masimo with its sensor off sends lines with no values: the last good reading is from before.
    rows = [obs(1, "spo2", 96, T0 - 3 * S, "oximeter")]
    v = current_vitals(rows, VitalsRules(), T0, {"oximeter": ["sensor_off"]})["spo2"]
    assert v.value is None and v.state == "unreliable"
    assert v.others[0].flags == ["sensor_off"] and not v.others[0].reliable


# -- pulse -------------------------------------------------------------------------------------------------
def test_pulse_is_the_heart_rate_while_both_are_fresh_else_the_fresh_one() -> None:
    both = [obs(1, "heart_rate", 88, T0 - S, "ecg"), obs(2, "pulse_rate", 84, T0 - S, "oximeter")]
    assert pulse_for_news2(vitals_of(both)).metric == "heart_rate"
    ecg_off = [obs(1, "heart_rate", 88, T0 - 5 * MIN, "ecg"), obs(2, "pulse_rate", 84, T0 - S, "oximeter")]
    assert pulse_for_news2(vitals_of(ecg_off)).metric == "pulse_rate"
    neither = [obs(1, "heart_rate", 88, T0 - 5 * MIN, "ecg"), obs(2, "pulse_rate", 84, T0 - 4 * MIN, "oximeter")]
    got = pulse_for_news2(vitals_of(neither))
    assert (got.metric, got.state) == ("pulse_rate", "stale")


def test_a_heart_rate_typed_once_does_not_hold_the_score_against_the_live_pulse() -> None:
    # The crew counted HR 72 ten minutes ago; the oximeter now says 135. Within 5 minutes the typed rate
    # stands; after that the monitor's live pulse is NEWS2's pulse (RCP: score the current physiology).
    typed = [obs(1, "heart_rate", 72, T0 - 2 * MIN), obs(2, "pulse_rate", 135, T0 - S, "oximeter")]
    assert pulse_for_news2(vitals_of(typed)).source == "manual"
    later = [obs(1, "heart_rate", 72, T0 - 10 * MIN), obs(2, "pulse_rate", 135, T0 - S, "oximeter")]
    vitals = vitals_of(later)
    assert vitals["heart_rate"].state == "current"  # still the heart rate's current value, shown as such
    pulse = pulse_for_news2(vitals)
    assert (pulse.metric, pulse.value) == ("pulse_rate", 135)
    assert news2_of(vitals, 1).parameters.pulse == 3


# -- NEWS2 never hides urgency -------------------------------------------------------------------------------
def test_an_incomplete_score_still_says_the_band_its_known_parameters_demand() -> None:
    rows = [obs(1, "resp_rate", 30, T0), obs(2, "spo2", 85, T0 - S, "oximeter"), obs(3, "consciousness", "U", T0)]
    got = news2_of(vitals_of(rows), 1)
    assert (got.total, got.risk, got.risk_at_least, got.red_score) == (None, None, "high", True)
    assert got.response.startswith("incomplete: at least high: urgent or emergency response")
    assert got.oldest_input_time == T0 - S


@pytest.mark.parametrize(("rows", "floor"), [
    ([obs(1, "resp_rate", 16, T0)], "low"),
    ([obs(1, "resp_rate", 7, T0)], "low-medium"),                                       # a single 3
    ([obs(1, "resp_rate", 22, T0), obs(2, "temperature", 39.5, T0), obs(3, "bp_systolic", 105, T0)], "medium"),
])
def test_risk_at_least_is_the_band_of_the_partial_sum(rows: list[Observation], floor: str) -> None:
    assert news2_of(vitals_of(rows), 1).risk_at_least == floor


def test_a_complete_score_has_its_band_as_the_floor() -> None:
    got = news2_of(vitals_of(normal_set(T0) + [obs(9, "resp_rate", 22, T0 + S)], now=T0 + S), 1)
    assert (got.total, got.risk, got.risk_at_least, got.stale) == (2, "low", "low", [])


def test_scale_2_scores_spo2_without_oxygen_entered_where_the_chart_does_not_need_it() -> None:
    low = news2_of(vitals_of([obs(1, "spo2", 84, T0, "oximeter")]), 2)
    assert low.parameters.spo2 == 2                        # 84-85 scores 2 on air or oxygen
    high = news2_of(vitals_of([obs(1, "spo2", 95, T0, "oximeter")]), 2)
    assert high.parameters.spo2 is None                    # 95: 0 on air, 2 on oxygen


# -- the trend ---------------------------------------------------------------------------------------------
def test_a_set_entered_together_makes_one_trend_point() -> None:
    rows = [*normal_set(T0), obs(10, "resp_rate", 26, T0 + MIN), obs(11, "temperature", 39.5, T0 + MIN),
            obs(12, "bp_systolic", 95, T0 + MIN)]
    assert news2_trend(rows, 1, None) == [(T0, 0), (T0 + MIN, 7)]


def test_device_readings_move_the_trend_at_most_once_a_minute() -> None:
    rows = [*normal_set(T0)[:-2], *[obs(10 + i, m, v, T0 + i * S, "monitor") for i, (m, v) in
                                   enumerate(("spo2", 90 + (n % 2) * 8) for n in range(120))]]
    rows += [obs(200, "heart_rate", 70, T0, "monitor")]
    trend = news2_trend(rows, 1, None)
    assert len(trend) <= 3  # an SpO2 flapping 90/98 every second for two minutes
    assert all(b[0] - a[0] >= MIN for a, b in zip(trend, trend[1:], strict=False))


def test_each_trend_point_is_scored_with_the_scale_in_force_then() -> None:
    rows = [*normal_set(T0)[:-2], obs(8, "heart_rate", 70, T0, "ecg"), obs(9, "spo2", 90, T0, "oximeter"),
            obs(10, "spo2", 89, T0 + 2 * MIN, "oximeter")]
    # Scale 2 from T0 + 1 min: SpO2 90 scored 3 on scale 1, then 89 scores 0 on scale 2.
    assert news2_trend(rows, [(0, 1), (T0 + MIN, 2)], None) == [(T0, 3), (T0 + 2 * MIN, 0)]
