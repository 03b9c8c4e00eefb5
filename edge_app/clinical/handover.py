"""Handover text: ATMIST to read aloud at the hospital, and a fuller written summary.

Pure: the typed record, latest values, NEWS2 and observations in; plain text out. ``now_ms`` is passed in
(no clock reads) so "4 min ago" and ages are reproducible. Times print as HH:MM in the box's zone with
its abbreviation ("10:42 BST"), the clock the receiving team reads, the zone named so a clock change
cannot make a time ambiguous; a time on another day than ``now_ms`` also shows its date. Anything missing says "not recorded" instead of vanishing: a gap
read aloud is a prompt to ask, a gap left out is invisible.

ATMIST (Age and sex, Time, Mechanism, Injuries, Signs incl. vital signs and GCS, Treatment) is the
pre-alert and handover structure NICE recommends for major trauma (NG39, as taught by RCEMLearning's
"ATMISTER" module); for medical patients the complaint stands in for mechanism and injuries.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TypeVar

import msgspec

from edge_app.clinical.assess import completed_years
from edge_app.clinical.current import in_order, later
from edge_app.clinical.fhir_codes import ACVPU_CODES
from edge_app.clinical.gcs import GCS_METRICS, GCS_ROWS, LETTERS, assessments, describe
from edge_app.clinical.grouping import blood_pressure_pairs
from edge_app.clinical.nhs import format_nhs_number, valid_nhs_number
from edge_app.model.encounter import EncounterRecord, Intervention, MedicationGiven, Note, Patient
from edge_app.model.news2 import News2
from edge_app.model.observation import Observation, Value

NR = "not recorded"
TIME_LABELS = (("call", "call"), ("mobile", "mobile"), ("at_scene", "at scene"), ("at_patient", "at patient"),
               ("left_scene", "left scene"), ("at_hospital", "at hospital"), ("handover", "handover"),
               ("clear", "clear"))
# (metric, spoken label, unit as said aloud); order is the order a clinician reads observations.
SIGNS = (("resp_rate", "RR", "/min"), ("spo2", "SpO2", "%"), ("bp", "BP", " mmHg"), ("pulse", "HR", "/min"),
         ("consciousness", "ACVPU", ""), ("temperature", "Temp", " °C"), ("glucose", "Glucose", " mmol/L"),
         ("pain_score", "Pain", "/10"))
OPTIONAL = (("etco2", "EtCO2", " mmHg"),)
TABLE = (("heart_rate", "HR", "/min"), ("pulse_rate", "Pulse", "/min"), ("spo2", "SpO2", "%"),
         ("resp_rate", "RR", "/min"), ("bp_systolic", "BP sys", "mmHg"), ("bp_diastolic", "BP dia", "mmHg"),
         ("bp_mean", "BP mean", "mmHg"), ("ibp_systolic", "Art sys", "mmHg"),
         ("ibp_diastolic", "Art dia", "mmHg"), ("ibp_mean", "Art mean", "mmHg"),
         ("temperature", "Temp", "°C"), ("etco2", "EtCO2", "mmHg"),
         ("glucose", "Glucose", "mmol/L"), ("pain_score", "Pain", "/10"), ("perfusion_index", "PI", "%"),
         ("rr_interval", "R-R", "s"), ("energy_expended", "Energy", "kJ"), ("consciousness", "ACVPU", ""),
         ("oxygen_supplement", "Oxygen", ""))
NEWS2_LABELS = {"resp_rate": "RR", "spo2": "SpO2", "oxygen_supplement": "air/oxygen",
                "bp_systolic": "systolic BP", "pulse": "pulse", "consciousness": "ACVPU",
                "temperature": "temperature"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Each metric's current observation, as the store's latest values pick it (current.newest).
Latest = Mapping[str, Observation]
# The record's timed lists, each told in the order it happened.
Entry = TypeVar("Entry", MedicationGiven, Intervention, Note)


def _dt(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(ms))


def hhmm(ms: int | None, now_ms: int, tz: tzinfo = UTC, *, zone: bool = True) -> str:
    """A time as the receiving team's clock shows it, "10:42 BST" in the box's zone (DESIGN.md: show people
    local time, with the zone), with its date when not on now's day there; "not recorded" for None."""
    if ms is None:
        return NR
    t, today = _dt(ms).astimezone(tz), _dt(now_ms).astimezone(tz).date()
    text = f"{t:%H:%M}" if t.date() == today else f"{t:%Y-%m-%d %H:%M}"
    return f"{text} {t.tzname()}" if zone else text


def zone_name(now_ms: int, tz: tzinfo) -> str:
    """The zone's abbreviation at now ("GMT", "BST"), as the summary names it once."""
    return _dt(now_ms).astimezone(tz).tzname() or "UTC"


def ago(ms: int, now_ms: int, tz: tzinfo = UTC) -> str:
    """How long before now: "just now", "4 min ago", "1 h 05 min ago"."""
    seconds = (now_ms - ms) // 1000
    if seconds < 0:
        # A reading stamped after "now" means a clock is wrong: say when, not a negative age.
        return f"at {hhmm(ms, now_ms, tz)}"
    if seconds < 60:
        return "just now"
    minutes = seconds // 60
    return f"{minutes} min ago" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min ago"


def num(x: Value) -> str:
    """A value as spoken: 104, 39.2, 0.55 (no trailing ".0")."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    return str(int(x)) if float(x).is_integer() else f"{round(float(x), 2):g}"


def age_text(patient: Patient, now_ms: int) -> str:
    """Age from date of birth at now ("67", "14 months", "9 days"), else "~60 (estimated)"."""
    dob_text = patient.date_of_birth
    if dob_text:
        try:
            dob = date.fromisoformat(dob_text)
        except ValueError:
            return "not recorded (date of birth unreadable)"
        today = _dt(now_ms).date()
        if dob > today:
            return "not recorded (date of birth is in the future)"
        years = completed_years(dob, today)
        if years >= 2:
            return str(years)
        months = (today.year - dob.year) * 12 + today.month - dob.month - (today.day < dob.day)
        return f"{months} months" if months >= 1 else f"{(today - dob).days} days"
    if patient.estimated_age is not None:
        return f"~{num(patient.estimated_age)} (estimated)"
    return NR


def _sex(patient: Patient) -> str:
    return patient.sex or f"sex {NR}"


def _value(metric: str, value: Value, short: bool = False) -> str:
    if metric == "consciousness":
        letter = str(value).upper()
        return letter if short or letter not in ACVPU_CODES else ACVPU_CODES[letter][2]
    if metric == "oxygen_supplement":
        return ("O2" if value else "air") if short else ("on oxygen" if value else "on air")
    return num(value)


def _gcs_at(observations: Iterable[Observation]) -> list[tuple[int, str, bool]]:
    """Every GCS assessment, oldest first: (time of its last entry, text, complete)."""
    out = []
    for found in assessments(observations):
        values = {r.metric: r.value for r in found}
        at = max(r.received_at for r in found)
        parts = [values.get(m) for m in GCS_METRICS]
        if all(p is not None for p in parts):
            try:
                out.append((at, describe(*parts), True))
            except ValueError as exc:
                out.append((at, f"GCS entry unreadable: {exc}", False))
        elif values.get("gcs_total") is not None:
            out.append((at, f"GCS {values['gcs_total']} (components {NR})", True))
        else:
            have = " ".join(f"{LETTERS[name]}{values[m]}" for m, name in GCS_METRICS.items() if m in values)
            out.append((at, f"GCS {have} (incomplete)", False))
    return out


def _gcs_sign(observations: Sequence[Observation], now_ms: int, tz: tzinfo) -> str:
    found = _gcs_at(observations)
    complete = [g for g in found if g[2]]
    if not found:
        return f"GCS {NR}"
    if not complete:
        return f"{found[-1][1]} ({ago(found[-1][0], now_ms, tz)})"
    at, text, _ = complete[-1]
    line = f"{text} ({ago(at, now_ms, tz)})"
    # A later partial entry is said too, so a change is not hidden behind the last complete score.
    if found[-1][0] > at:
        line += f"; since then {found[-1][1]} ({ago(found[-1][0], now_ms, tz)})"
    return line


def _news2_line(news2: News2 | None, trend: Sequence[tuple[int, int]], now_ms: int, tz: tzinfo) -> str:
    if news2 is None:
        return "NEWS2 not available"
    scale = " (SpO2 scale 2)" if news2.scale == 2 else ""
    total = news2.total
    if total is None and news2.warning:
        # e.g. under 16: assess.news2_of gives no number on purpose; say why rather than "incomplete".
        return f"NEWS2 not scored: {news2.warning}"
    if total is None:
        # Never hide urgency: the band the scored parameters already guarantee, and a single 3, are said
        # (RCP NEWS2 2017 Chart 2: a red score alone needs an urgent review).
        floor = news2.risk_at_least
        head = f"NEWS2 incomplete{scale}" + (f", at least {floor}" if floor and floor != "low" else "")
        head += ", red score" if news2.red_score else ""
        missing = ", ".join(NEWS2_LABELS.get(m, m) for m in news2.missing if m not in news2.stale)
        stale = ", ".join(NEWS2_LABELS.get(m, m) for m in news2.stale)
        gaps = [f"{missing} {NR}" if missing else "", f"{stale} too old to score" if stale else ""]
        return f"{head}: " + "; ".join(g for g in gaps if g) if any(gaps) else head
    text = f"NEWS2 {total} {news2.risk or ''}".rstrip() + scale
    points = sorted((t, s) for t, s in trend if s is not None)
    if points:
        (t0, s0), totals = points[0], [s for _, s in points]
        if s0 != total:
            text += f" (was {s0} at {hhmm(t0, now_ms, tz)})"
        elif min(totals) == max(totals) == total:
            text += f" (unchanged since {hhmm(t0, now_ms, tz)})"
        else:
            text += f" (first {s0} at {hhmm(t0, now_ms, tz)}; range {min(totals)}-{max(totals)})"
    return text


def _bp_sign(latest: Latest, observations: Sequence[Observation], label: str, unit: str, now_ms: int,
             tz: tzinfo) -> str:
    # Only a systolic and diastolic taken together make "120/80"; the latest of each may not be. The
    # latest pair is the one whose systolic ranks newest (device readings by sequence: see in_order).
    pairs, _ = blood_pressure_pairs([o for o in observations if o.metric in ("bp_systolic", "bp_diastolic")])
    pair = None
    for p in pairs:
        if pair is None or later(p[0], pair[0]) is p[0]:
            pair = p
    sys_ = latest.get("bp_systolic")
    if pair and (sys_ is None or sys_.id == pair[0].id or later(sys_, pair[0]) is pair[0]):
        reading = f"{num(pair[0].value)}/{num(pair[1].value)}"
        return f"{label} {reading}{unit} ({ago(pair[0].received_at, now_ms, tz)})"
    if sys_ is None:
        return f"{label} {NR}"
    line = f"{label} {num(sys_.value)} systolic{unit} ({ago(sys_.received_at, now_ms, tz)}; diastolic {NR}"
    if pair:
        reading = f"{num(pair[0].value)}/{num(pair[1].value)}"
        line += f"; last full {reading} at {hhmm(pair[0].received_at, now_ms, tz)}"
    return line + ")"


def _sign(metric: str, label: str, unit: str, latest: Latest, observations: Sequence[Observation],
          now_ms: int, tz: tzinfo) -> str:
    if metric == "pulse":
        metric, label = ("heart_rate", "HR") if "heart_rate" in latest else ("pulse_rate", "Pulse")
    if metric == "bp":
        return _bp_sign(latest, observations, label, unit, now_ms, tz)
    row = latest.get(metric)
    if row is None:
        return f"{label} {NR}"
    text = f"{label} {_value(metric, row.value)}{unit}"
    if metric == "spo2":
        o2 = latest.get("oxygen_supplement")
        text += f" {_value('oxygen_supplement', o2.value)}" if o2 else f" (air/oxygen {NR})"
    return f"{text} ({ago(row.received_at, now_ms, tz)})"


def _medication(m: MedicationGiven, now_ms: int, tz: tzinfo) -> str:
    who = f" (by {m.given_by})" if m.given_by else ""
    return f"{m.drug} {num(m.dose)} {m.unit} {m.route} at {hhmm(m.time, now_ms, tz)}{who}"


def _intervention(i: Intervention, now_ms: int, tz: tzinfo) -> str:
    who = f" (by {i.by})" if i.by else ""
    return f"{i.what} at {hhmm(i.time, now_ms, tz)}{who}"


def _by_time(items: Sequence[Entry]) -> list[Entry]:
    return sorted(items, key=lambda x: (x.time, x.id))


def atmist(record: EncounterRecord, latest: Latest, news2: News2 | None, news2_trend: Sequence[tuple[int, int]],
           observations: Sequence[Observation], *, now_ms: int, tz: tzinfo = UTC) -> str:
    """ATMIST as a paramedic reads it aloud; news2_trend is (time_ms, total) pairs."""
    patient, times = record.patient, record.times
    # Who the patient is and what must not be given: said first, so the receiving team hears it before
    # anything is drawn up (PRSB handover: allergies and regular medications in every transfer of care).
    lines = [f"A  Age {age_text(patient, now_ms)}, {_sex(patient)}; NHS number {_nhs_text(patient)}",
             f"   Allergies: {', '.join(patient.allergies) or NR}; "
             f"regular medications: {', '.join(patient.medications) or NR}"]
    # Onset when recorded, else the call, saying so; call and at-patient are always said (the two a
    # receiving team asks for); the rest when recorded.
    key_times = [f"{'time of call' if name == 'call' else label} {hhmm(getattr(times, name), now_ms, tz)}"
                 for name, label in TIME_LABELS
                 if name in ("call", "at_patient") or getattr(times, name) is not None]
    onset = (f"onset {hhmm(record.onset, now_ms, tz)}; " if record.onset is not None
             else f"onset {NR}, so from the call: ")
    lines.append("T  " + onset + "; ".join(key_times))
    lines.append(f"M  Mechanism/complaint: {record.complaint or NR}")
    # An empty field is a question not asked, never "none" (that would say the patient was examined).
    lines.append(f"I  Injuries: {record.injuries or NR}")
    signs = [_sign(m, label, unit, latest, observations, now_ms, tz) for m, label, unit in SIGNS]
    signs += [_sign(m, label, unit, latest, observations, now_ms, tz)
              for m, label, unit in OPTIONAL if m in latest]
    signs.append(_gcs_sign(observations, now_ms, tz))
    signs.append(_news2_line(news2, news2_trend, now_ms, tz))
    lines.append("S  " + "\n   ".join(signs))
    # Drugs and interventions in the order they happened, as the story is told.
    given = [(m.time, 0, m.id, _medication(m, now_ms, tz)) for m in record.medications_given]
    given += [(i.time, 1, i.id, _intervention(i, now_ms, tz)) for i in record.interventions]
    given += [(t, 2, 0, text) for t, text in _oxygen_given(observations, now_ms, tz)]
    treatment = [text for *_, text in sorted(given)]
    lines.append("T  " + ("\n   ".join(treatment) if treatment else f"treatment {NR}"))
    return "\n".join(lines) + "\n"


def _nhs_text(p: Patient) -> str:
    nhs = p.nhs_number
    return NR if not nhs else format_nhs_number(nhs) if valid_nhs_number(nhs) else f"{nhs} (fails the check digit)"


def _oxygen_given(observations: Sequence[Observation], now_ms: int, tz: tzinfo) -> list[tuple[int, str]]:
    """Oxygen as treatment: each time it was started or stopped, from the crew's air/oxygen entries."""
    out: list[tuple[int, str]] = []
    on: bool | None = None
    for o in in_order(o for o in observations if o.metric == "oxygen_supplement"):
        now_on = bool(o.value)
        if now_on != on and (now_on or on is not None):
            out.append((o.received_at, f"oxygen {'started' if now_on else 'stopped'} at {hhmm(o.received_at, now_ms, tz)}"))
        on = now_on
    return out


def _trend_rows(observations: Sequence[Observation], now_ms: int, tz: tzinfo) -> list[str]:
    by_metric: dict[str, list[Observation]] = {}
    for o in observations:
        if o.metric not in GCS_ROWS:
            by_metric.setdefault(o.metric, []).append(o)
    rows = {metric: in_order(seen) for metric, seen in by_metric.items()}
    known = [m for m, _, _ in TABLE]
    order = [(m, label, unit) for m, label, unit in TABLE if m in rows]
    order += [(m, m, rows[m][0].unit or "") for m in sorted(rows) if m not in known]
    out = [f"  {'':<8}{'unit':<7}{'n':>4}  {'first':<18}{'min':>7}{'max':>7}  latest"]
    for metric, label, unit in order:
        seen = rows[metric]
        first = seen[0]
        # the latest as latest_values picks it: not always the last in time order (a manual entry's stated
        # time may be after a reading stored later, from a tablet's clock a little ahead)
        last = seen[0]
        for o in seen[1:]:
            last = later(o, last)
        numbers = [o.value for o in seen if isinstance(o.value, int | float) and not isinstance(o.value, bool)]
        low, high = (num(min(numbers)), num(max(numbers))) if len(numbers) == len(seen) else ("-", "-")
        at = f"{_value(metric, first.value, True)} @ {hhmm(first.received_at, now_ms, tz, zone=False)}"
        out.append(f"  {label:<8}{unit:<7}{len(seen):>4}  {at:<18}{low:>7}{high:>7}  "
                   f"{_value(metric, last.value, True)} @ {hhmm(last.received_at, now_ms, tz, zone=False)}")
    return out if order else [f"  {NR}"]


def summary(record: EncounterRecord, latest: Latest, news2: News2 | None, news2_trend: Sequence[tuple[int, int]],
            observations: Sequence[Observation], *, now_ms: int, tz: tzinfo = UTC) -> str:
    """The written handover: patient, all times, NEWS2 and its trend, observation trends, treatment, notes."""
    p, times = record.patient, record.times
    nhs_text = _nhs_text(p)
    status = record.status.replace("_", " ")
    out = [f"HANDOVER SUMMARY  incident {record.incident_ref or NR}  status {status}",
           f"Generated {hhmm(now_ms, now_ms, tz)}; all times {zone_name(now_ms, tz)}", "",
           "PATIENT",
           f"  Name: {p.name or NR}",
           f"  Date of birth: {p.date_of_birth or NR}; age {age_text(p, now_ms)}",
           f"  Sex: {p.sex or NR}",
           f"  NHS number: {nhs_text}",
           f"  Allergies: {', '.join(p.allergies) or NR}",
           f"  Regular medications: {', '.join(p.medications) or NR}",
           f"  History: {p.history or NR}", "", "TIMES"]
    out += [f"  {label.capitalize() + ':':<13}{hhmm(getattr(times, name), now_ms, tz)}" for name, label in TIME_LABELS]
    out += ["", "PRESENTATION", f"  Complaint: {record.complaint or NR}",
            f"  Onset: {hhmm(record.onset, now_ms, tz)}",
            f"  Injuries: {record.injuries or NR}", "", "NEWS2",
            f"  {_news2_line(news2, news2_trend, now_ms, tz)}"]
    if news2 is not None:
        # In the parameters' field order: the order NEWS2 charts them (and the API shows them).
        params = msgspec.structs.asdict(news2.parameters)
        scored = ", ".join(f"{NEWS2_LABELS.get(k, k)} {v if v is not None else '-'}"
                           for k, v in params.items())
        out.append(f"  Parameter scores: {scored or NR}")
        if news2.response:
            out.append(f"  Response: {news2.response}")
    trend = sorted((t, s) for t, s in news2_trend if s is not None)
    out.append("  Trend: " + ("; ".join(f"{s} at {hhmm(t, now_ms, tz)}" for t, s in trend) if trend else NR))
    out += ["", f"OBSERVATIONS (first, min, max, latest; times {zone_name(now_ms, tz)})", *_trend_rows(observations, now_ms, tz)]
    gcs = _gcs_at(observations)
    out += ["", "GCS", *([f"  {hhmm(t, now_ms, tz)}  {text}" for t, text, _ in gcs] or [f"  {NR}"])]
    meds = _by_time(record.medications_given)
    out += ["", "MEDICATIONS GIVEN",
            *([f"  {_medication(m, now_ms, tz)}; entered by {m.entered_by or NR}" for m in meds]
              or [f"  {NR}"])]
    acts = _by_time(record.interventions)
    out += ["", "INTERVENTIONS",
            *([f"  {_intervention(i, now_ms, tz)}; entered by {i.entered_by or NR}" for i in acts]
              or [f"  {NR}"])]
    notes = _by_time(record.notes)
    out += ["", "NOTES", *([f"  {hhmm(n.time, now_ms, tz)}  {n.text} ({n.entered_by or NR})"
                            for n in notes] or [f"  {NR}"])]
    return "\n".join(out) + "\n"
