"""Handover text (journey 1, step 8): ATMIST read aloud, and the written summary."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from edge_app.clinical.handover import age_text, ago, atmist, hhmm, summary
from edge_app.model.encounter import EncounterRecord, Intervention, MedicationGiven, Note, Patient, Times
from edge_app.model.news2 import News2, News2Parameters
from edge_app.model.observation import Observation
from tests.edge_app.clinical.records import MIN, T0, obs, record

NOW = T0 + 70 * MIN  # 11:41 UTC, at the hospital
PATIENT = Patient(name="Mary Jones", date_of_birth="1958-04-02", sex="female", nhs_number="9434765919",
                  allergies=["penicillin (rash)"], medications=["salbutamol inhaler", "tiotropium"],
                  history="COPD, home oxygen 2 L/min")


def make_record(**changes: Any) -> EncounterRecord:
    """A 67-year-old woman with COPD and a chest infection (journey 1), conveyed on SpO2 scale 2."""
    return record(**{
        "incident_ref": "INC-20260301-0042", "status": "open", "spo2_scale": 2, "updated_at": T0 + 60 * MIN,
        "version": 9, "complaint": "increasing breathlessness for 2 days, new confusion", "patient": PATIENT,
        "times": Times(call=T0, mobile=T0 + 2 * MIN, at_scene=T0 + 11 * MIN, at_patient=T0 + 13 * MIN,
                       left_scene=T0 + 48 * MIN, at_hospital=T0 + 66 * MIN),
        "medications_given": [
            MedicationGiven(id=2, drug="Ipratropium bromide", dose=0.5, unit="mg", route="nebulised",
                            time=T0 + 24 * MIN, given_by=None, entered_by="tablet-1"),
            MedicationGiven(id=1, drug="Salbutamol", dose=5.0, unit="mg", route="nebulised", time=T0 + 22 * MIN,
                            given_by="P. Singh", entered_by="tablet-1")],
        "interventions": [Intervention(id=1, what="12-lead ECG", time=T0 + 23 * MIN, by=None, entered_by="cab")],
        "notes": [Note(id=1, text="daughter has power of attorney", time=T0 + 30 * MIN, entered_by="cab")],
    } | changes)


OBSERVATIONS = [
    obs(1, "spo2", 84, T0 + 15 * MIN, "oximeter"), obs(2, "pulse_rate", 118, T0 + 15 * MIN, "oximeter"),
    obs(3, "resp_rate", 28, T0 + 16 * MIN), obs(4, "consciousness", "C", T0 + 16 * MIN),
    obs(5, "bp_systolic", 102, T0 + 17 * MIN, "bp-cuff"),
    obs(6, "bp_diastolic", 64, T0 + 17 * MIN, "bp-cuff"),
    obs(7, "temperature", 38.6, T0 + 18 * MIN), obs(8, "oxygen_supplement", False, T0 + 16 * MIN),
    obs(9, "oxygen_supplement", True, T0 + 20 * MIN),
    # GCS keyed in one component at a time, 20-40 s apart: one assessment
    obs(10, "gcs_eye", 4, T0 + 19 * MIN), obs(11, "gcs_verbal", 4, T0 + 19 * MIN + 20_000),
    obs(12, "gcs_motor", 6, T0 + 19 * MIN + 40_000),
    obs(13, "spo2", 89, T0 + 35 * MIN, "oximeter"), obs(14, "pulse_rate", 104, T0 + 35 * MIN, "oximeter"),
    obs(15, "glucose", 6.4, T0 + 21 * MIN),
    obs(16, "spo2", 90, T0 + 65 * MIN, "oximeter"),
]
NEWS2 = News2(total=10, risk="high", risk_at_least="high", scale=2, missing=[], stale=[], red_score=True,
              oldest_input_time=None,
              parameters=News2Parameters(resp_rate=3, spo2=0, oxygen_supplement=2, bp_systolic=1, pulse=1,
                                         consciousness=3, temperature=1),
              response="urgent or emergency response; continuous monitoring", inputs={})
TREND = [(T0 + 16 * MIN, 7), (T0 + 20 * MIN, 9), (T0 + 35 * MIN, 10)]


def latest_of(observations: list[Observation]) -> dict[str, Observation]:
    latest: dict[str, Observation] = {}
    for o in sorted(observations, key=lambda o: (o.received_at, o.id)):
        latest[o.metric] = o
    return latest


def say(rec: EncounterRecord | None = None, observations: list[Observation] | None = None,
        news2: News2 | None = NEWS2, trend: list[tuple[int, int]] | None = None, now: int = NOW) -> str:
    rows = OBSERVATIONS if observations is None else observations
    return atmist(rec or make_record(), latest_of(rows), news2, TREND if trend is None else trend, rows,
                  now_ms=now)


def test_atmist_whole_text() -> None:
    assert say() == (
        "A  Age 67, female; NHS number 943 476 5919\n"
        "   Allergies: penicillin (rash); regular medications: salbutamol inhaler, tiotropium\n"
        "T  onset not recorded, so from the call: time of call 10:31 UTC; mobile 10:33 UTC; at scene 10:42 UTC; "
        "at patient 10:44 UTC; left scene 11:19 UTC; at hospital 11:37 UTC\n"
        "M  Mechanism/complaint: increasing breathlessness for 2 days, new confusion\n"
        "I  Injuries: not recorded\n"
        "S  RR 28/min (54 min ago)\n"
        "   SpO2 90% on oxygen (5 min ago)\n"
        "   BP 102/64 mmHg (53 min ago)\n"
        "   Pulse 104/min (35 min ago)\n"
        "   ACVPU C: new confusion (54 min ago)\n"
        "   Temp 38.6 °C (52 min ago)\n"
        "   Glucose 6.4 mmol/L (49 min ago)\n"
        "   Pain not recorded\n"
        "   GCS 14 (E4 V4 M6) (50 min ago)\n"
        "   NEWS2 10 high (SpO2 scale 2) (was 7 at 10:47 UTC)\n"
        "T  oxygen started at 10:51 UTC\n"
        "   Salbutamol 5 mg nebulised at 10:53 UTC (by P. Singh)\n"
        "   12-lead ECG at 10:54 UTC\n"
        "   Ipratropium bromide 0.5 mg nebulised at 10:55 UTC\n")


def test_nothing_recorded_says_so() -> None:
    bare = make_record(complaint=None, medications_given=[], interventions=[], patient=Patient(), times=Times())
    text = say(bare, observations=[], news2=None, trend=[])
    for line in ("A  Age not recorded, sex not recorded; NHS number not recorded",
                 "   Allergies: not recorded; regular medications: not recorded",
                 "T  onset not recorded, so from the call: time of call not recorded; at patient not recorded",
                 "M  Mechanism/complaint: not recorded", "I  Injuries: not recorded", "S  RR not recorded",
                 "   SpO2 not recorded", "   BP not recorded", "   Pulse not recorded", "   ACVPU not recorded",
                 "   Temp not recorded", "   GCS not recorded", "   NEWS2 not available",
                 "T  treatment not recorded"):
        assert line in text.splitlines(), line


def test_injuries_and_heart_rate_preferred_to_pulse() -> None:
    rows = [*OBSERVATIONS, obs(20, "heart_rate", 121, T0 + 40 * MIN, "ecg")]
    text = say(make_record(injuries="laceration to left forearm, bleeding controlled"), rows)
    assert "I  Injuries: laceration to left forearm, bleeding controlled" in text
    assert "   HR 121/min (30 min ago)" in text and "Pulse" not in text


def test_bp_is_only_said_as_a_pair_when_taken_together() -> None:
    rows = [*OBSERVATIONS, obs(21, "bp_systolic", 96, T0 + 50 * MIN, "bp-cuff")]
    assert "   BP 96 systolic mmHg (20 min ago; diastolic not recorded; last full 102/64 at 10:48 UTC)" in say(
        observations=rows)
    typed = [obs(1, "bp_systolic", 130, T0 + 60 * MIN), obs(2, "bp_diastolic", 85, T0 + 60 * MIN + 30_000)]
    assert "   BP 130/85 mmHg (10 min ago)" in say(observations=typed)


def test_gcs_not_testable_and_later_partial() -> None:
    rows = [*OBSERVATIONS, obs(30, "gcs_eye", 3, T0 + 60 * MIN), obs(31, "gcs_verbal", "NT", T0 + 60 * MIN),
            obs(32, "gcs_motor", 5, T0 + 60 * MIN), obs(33, "gcs_motor", 4, T0 + 66 * MIN)]
    assert ("   GCS E3 VNT M5 (no total: verbal not testable) (10 min ago); since then GCS M4 (incomplete) "
            "(4 min ago)") in say(observations=rows)


@pytest.mark.parametrize(("trend", "expected"), [
    ([(T0 + 16 * MIN, 10), (T0 + 30 * MIN, 10)], "NEWS2 10 high (SpO2 scale 2) (unchanged since 10:47 UTC)"),
    ([(T0 + 16 * MIN, 10), (T0 + 30 * MIN, 6)], "NEWS2 10 high (SpO2 scale 2) (first 10 at 10:47 UTC; range 6-10)"),
    ([], "NEWS2 10 high (SpO2 scale 2)"),
])
def test_news2_trend(trend: list[tuple[int, int]], expected: str) -> None:
    assert f"   {expected}\n" in say(trend=trend)


def test_news2_incomplete_names_what_is_missing() -> None:
    partial = replace(NEWS2, total=None, risk=None, risk_at_least="low", red_score=False, scale=1,
                      missing=["resp_rate", "temperature"])
    assert "   NEWS2 incomplete: RR, temperature not recorded\n" in say(news2=partial, trend=[])


def test_news2_incomplete_still_says_the_band_it_is_at_least_and_what_is_stale() -> None:
    # RR 30, SpO2 85, ACVPU U already demand an urgent response, whatever is missing.
    partial = replace(NEWS2, total=None, risk=None, risk_at_least="high", red_score=True, scale=1,
                      missing=["resp_rate", "bp_systolic", "temperature"], stale=["resp_rate"])
    assert ("   NEWS2 incomplete, at least high, red score: systolic BP, temperature not recorded; "
            "RR too old to score\n") in say(news2=partial, trend=[])


def test_onset_when_recorded_and_times_in_the_box_zone() -> None:
    from zoneinfo import ZoneInfo

    text = say(make_record(onset=T0 - 2 * 60 * MIN))
    assert "T  onset 08:31 UTC; time of call 10:31 UTC;" in text
    # 1 March is GMT in London; on 1 July the same instant is BST, an hour on
    london = ZoneInfo("Europe/London")
    assert hhmm(T0, T0, london) == "10:31 GMT"
    july = T0 + 122 * 24 * 60 * MIN
    assert hhmm(july, july, london) == "11:31 BST"
    summer = atmist(make_record(), latest_of(OBSERVATIONS), NEWS2, TREND, OBSERVATIONS, now_ms=NOW, tz=london)
    assert "time of call 10:31 GMT" in summer and "UTC" not in summer


def test_news2_not_scored_for_a_child_says_why() -> None:
    child = replace(NEWS2, total=None, risk=None, scale=1, missing=[],
                    warning="patient is 9: NEWS2 does not apply under 16")
    assert "   NEWS2 not scored: patient is 9: NEWS2 does not apply under 16\n" in say(news2=child)


def test_age() -> None:
    now = T0  # 2026-03-01
    assert age_text(Patient(date_of_birth="1958-03-01"), now) == "68"   # birthday today
    assert age_text(Patient(date_of_birth="1958-03-02"), now) == "67"   # birthday tomorrow
    assert age_text(Patient(date_of_birth="2024-12-15"), now) == "14 months"
    assert age_text(Patient(date_of_birth="2026-02-20"), now) == "9 days"
    assert age_text(Patient(date_of_birth=None, estimated_age=60), now) == "~60 (estimated)"
    assert age_text(Patient(date_of_birth="2027-01-01"), now).startswith("not recorded")
    assert age_text(Patient(date_of_birth="1 April 1958"), now) == "not recorded (date of birth unreadable)"
    assert age_text(Patient(), now) == "not recorded"
    assert say(make_record(patient=replace(PATIENT, date_of_birth=None, estimated_age=80, sex="male"))).startswith(
        "A  Age ~80 (estimated), male; NHS number 943 476 5919\n")


def test_times_are_utc_with_a_date_when_not_today() -> None:
    assert hhmm(T0, T0) == "10:31 UTC"
    assert hhmm(T0 - 11 * 60 * MIN, T0) == "2026-02-28 23:31 UTC"
    assert hhmm(None, T0) == "not recorded"
    assert (ago(T0, T0 + 59_000), ago(T0, T0 + 4 * MIN), ago(T0, T0 + 65 * MIN)) == \
        ("just now", "4 min ago", "1 h 05 min ago")
    assert ago(T0 + MIN, T0) == "at 10:32 UTC"   # a clock ahead of the box: no negative age


def test_pure_and_repeatable() -> None:
    assert say() == say()
    later = say(now=NOW + 10 * MIN)
    assert "SpO2 90% on oxygen (15 min ago)" in later


def test_summary_has_everything() -> None:
    text = summary(make_record(), latest_of(OBSERVATIONS), NEWS2, TREND, OBSERVATIONS, now_ms=NOW)
    for expected in (
        "HANDOVER SUMMARY  incident INC-20260301-0042  status open",
        "  Name: Mary Jones", "  Date of birth: 1958-04-02; age 67", "  Sex: female",
        "  NHS number: 943 476 5919", "  Allergies: penicillin (rash)",
        "  Regular medications: salbutamol inhaler, tiotropium", "  History: COPD, home oxygen 2 L/min",
        "  Call:        10:31 UTC", "  At hospital: 11:37 UTC", "  Handover:    not recorded", "  Clear:       not recorded",
        "  Complaint: increasing breathlessness for 2 days, new confusion", "  Injuries: not recorded",
        "  NEWS2 10 high (SpO2 scale 2) (was 7 at 10:47 UTC)",
        "  Parameter scores: RR 3, SpO2 0, air/oxygen 2, systolic BP 1, pulse 1, ACVPU 3, temperature 1",
        "  Trend: 7 at 10:47 UTC; 9 at 10:51 UTC; 10 at 11:06 UTC",
        "  SpO2    %         3  84 @ 10:46             84     90  90 @ 11:36",
        "  Pulse   /min      2  118 @ 10:46           104    118  104 @ 11:06",
        "  Oxygen            2  air @ 10:47             -      -  O2 @ 10:51",
        "  10:50 UTC  GCS 14 (E4 V4 M6)",
        "  Salbutamol 5 mg nebulised at 10:53 UTC (by P. Singh); entered by tablet-1",
        "  12-lead ECG at 10:54 UTC; entered by cab",
        "  11:01 UTC  daughter has power of attorney (cab)",
    ):
        assert expected in text.splitlines(), expected


def test_summary_whole_text() -> None:
    # golden/journey1_summary.txt was written by the summary before it took typed records; changed since
    # only by issue 15 (an empty field says "not recorded", never "none"; the onset line).
    golden = (Path(__file__).parent / "golden" / "journey1_summary.txt").read_text()
    assert summary(make_record(), latest_of(OBSERVATIONS), NEWS2, TREND, OBSERVATIONS, now_ms=NOW) == golden


def test_summary_when_empty() -> None:
    bare = make_record(medications_given=[], interventions=[], notes=[],
                       patient=replace(PATIENT, nhs_number="9434765918", allergies=[]))
    text = summary(bare, {}, None, [], [], now_ms=NOW)
    assert "  NHS number: 9434765918 (fails the check digit)" in text
    assert "  Allergies: not recorded" in text and "none" not in text, "an empty field is never 'none'"
    assert text.count("\n  not recorded\n") >= 5     # observations, GCS, medications, interventions, notes
    assert "  NEWS2 not available" in text


def test_after_the_clock_stepped_back_the_newest_device_reading_is_latest() -> None:
    # Before the step the box's clock was an hour ahead: readings stamped 11:31. NTP steps it back to
    # 10:31; the monitors go on. Device readings rank by sequence (current.newest), not by time.
    hour = 60 * MIN
    rows = [obs(40, "spo2", 95, T0 + hour, "oximeter"),
            obs(41, "bp_systolic", 120, T0 + hour, "bp-cuff"),
            obs(42, "bp_diastolic", 80, T0 + hour, "bp-cuff"),
            obs(43, "spo2", 88, T0 + MIN, "oximeter"),
            obs(44, "bp_systolic", 90, T0 + 2 * MIN, "bp-cuff"),
            obs(45, "bp_diastolic", 50, T0 + 2 * MIN, "bp-cuff"),
            obs(46, "resp_rate", 20, T0 + 2 * MIN),
            obs(47, "resp_rate", 16, T0 + MIN)]  # entered later, back-dated: not the latest
    latest = {"spo2": rows[3], "bp_systolic": rows[4], "bp_diastolic": rows[5], "resp_rate": rows[6]}
    now = T0 + 3 * MIN
    text = summary(make_record(), latest, None, [], rows, now_ms=now)
    # the first is the first stored (stamped by the clock as it was then), the latest the newest stored
    assert "  SpO2    %         2  95 @ 11:31             88     95  88 @ 10:32" in text.splitlines()
    assert "  BP sys  mmHg      2  120 @ 11:31            90    120  90 @ 10:33" in text.splitlines()
    assert "  RR      /min      2  16 @ 10:32             16     20  20 @ 10:33" in text.splitlines()
    spoken = atmist(make_record(), latest, None, [], rows, now_ms=now)
    assert "   BP 90/50 mmHg (1 min ago)" in spoken
    assert "   SpO2 88% (air/oxygen not recorded) (2 min ago)" in spoken
    # a later systolic alone still says the last full pair, the one taken after the step
    rows.append(obs(48, "bp_systolic", 85, T0 + 3 * MIN, "bp-cuff"))
    spoken = atmist(make_record(), {**latest, "bp_systolic": rows[-1]}, None, [], rows, now_ms=now)
    assert "   BP 85 systolic mmHg (just now; diastolic not recorded; last full 90/50 at 10:33 UTC)" in spoken
