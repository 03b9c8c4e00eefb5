"""An encounter as a FHIR R4 (4.0.1) transaction Bundle: the record, its observations, its monitors.

Pure: typed records in (EncounterRecord, Observation, KnownDevice), a JSON-ready dict out: FHIR's wire
format is JSON, so the Bundle is built as plain dicts. Which readings make one panel is grouping.py's.

Choices, and why:
- Bundle type "transaction" with a PUT per entry to ``<Type>/<client uuid>``: the uplink must leave
  every record upstream exactly once even when the server times out or answers twice; a PUT to a
  client-assigned id is idempotent (update-as-create), so resending the same bundle replaces rather
  than duplicates. A "collection" would need the server to de-duplicate by content.
- Every id comes from the caller's ``id_for(key)`` (deterministic, uuid5-based) and must be a UUID;
  keys are built from store row ids and fixed words, never from patient data, and fullUrls are
  ``urn:uuid:<id>``: no name, NHS number, date of birth or incident reference in any id or URL.
- effectiveDateTime is the box's receive time; a monitor's own clock goes in Observation.note,
  because monitor clocks drift and lie (DESIGN.md) and no core element holds a second time.
- Blood pressure: systolic and diastolic taken together become one 85354-9 panel with components
  (R4 vital signs profile); unpaired values stay separate Observations. GCS eye, verbal and motor
  taken together become one 9269-2 Observation with components, as HL7 Germany's GCS profile does.
"""
from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from html import escape
from typing import Any

from edge_app.clinical import fhir_codes as c
from edge_app.clinical.fhir_series import PERIOD_MS, SeriesWindow
from edge_app.clinical.gcs import GCS_METRICS, NT, component
from edge_app.clinical.grouping import blood_pressure_pairs, gcs_groups
from edge_app.clinical.nhs import normalise_nhs_number, valid_nhs_number
from edge_app.model.devices import KnownDevice
from edge_app.model.encounter import TIMES, EncounterRecord, Patient
from edge_app.model.observation import Observation
from firmware_bridge.metrics import METRICS, Metric, ValueKind

IdFor = Callable[[str], str]
Resource = dict[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(ms: int) -> str:
    """UTC epoch milliseconds as a FHIR instant/dateTime ("2026-03-01T10:42:13.250Z")."""
    t = _EPOCH + timedelta(milliseconds=int(ms))
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ref(rid: str) -> dict[str, str]:
    """A reference to another entry of the same bundle."""
    return {"reference": f"urn:uuid:{rid}"}


class _Ids:
    """Checks and remembers the caller's ids: each a UUID, no two keys sharing one."""

    def __init__(self, id_for: IdFor) -> None:
        self._id_for = id_for
        self._seen: dict[str, str] = {}

    def __call__(self, key: str) -> str:
        raw = self._id_for(key)
        try:
            rid = str(uuid.UUID(raw))
        except (TypeError, ValueError, AttributeError):
            raise ValueError(f"id_for({key!r}) must return a UUID") from None
        if self._seen.setdefault(rid, key) != key:
            raise ValueError(f"id_for gave keys {self._seen[rid]!r} and {key!r} the same id")
        return rid


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    return {"system": system, "code": code} | ({"display": display} if display else {})


def _number(value: Any, what: str) -> int | float:
    # FHIR decimals have no NaN or infinity, and a bool is not a measurement.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what}: value {value!r} is not a finite number")
    return value


def _quantity(value: Any, unit: str, what: str) -> dict[str, Any]:
    return {"value": _number(value, what), "unit": c.UNIT_DISPLAY.get(unit, unit),
            "system": c.UCUM, "code": unit}


def _metric_code(metric: str) -> tuple[dict[str, Any], str | None]:
    """Observation.code and category for a metric; unknown metrics keep their name as text."""
    try:
        m = Metric(metric)
    except ValueError:
        return {"text": metric}, None
    loinc = METRICS[m].loinc
    if m is Metric.OXYGEN_SUPPLEMENT:
        return {"coding": [dict(c.OXYGEN_CODING)], "text": "On supplemental oxygen"}, c.CATEGORY.get(m)
    if m is Metric.ENERGY_EXPENDED:
        return {"coding": [dict(c.ENERGY_CODING)], "text": "Energy expended"}, c.CATEGORY.get(m)
    if not loinc:
        return {"text": metric}, None
    display = c.LOINC_DISPLAY.get(loinc)
    codings = [_coding(c.LOINC, loinc, display), *c.EXTRA_CODINGS.get(m, [])]
    return {"coding": codings, "text": display or metric}, c.CATEGORY.get(m)


def _value(o: Observation) -> dict[str, Any]:
    """value[x] (or dataAbsentReason) of one stored observation, by its metric's kind."""
    metric, value, what = o.metric, o.value, f"observation {o.id} ({o.metric})"
    if metric in GCS_METRICS or metric == Metric.GCS_TOTAL:
        score = component(GCS_METRICS.get(metric, "total"), value)
        return {"dataAbsentReason": c.NOT_TESTABLE} if score == NT else \
            {"valueQuantity": _quantity(score, "{score}", what)}
    if metric == Metric.CONSCIOUSNESS:
        letter = str(value).strip().upper()
        if letter not in c.ACVPU_CODES:
            raise ValueError(f"{what}: ACVPU must be one of A, C, V, P, U")
        code, display, text = c.ACVPU_CODES[letter]
        return {"valueCodeableConcept": {"coding": [_coding(c.SNOMED, code, display)], "text": text}}
    if metric == Metric.OXYGEN_SUPPLEMENT:
        # SQLite hands booleans back as 0/1.
        if isinstance(value, bool) or value in (0, 1):
            return {"valueBoolean": bool(value)}
        raise ValueError(f"{what}: on-oxygen must be true or false")
    try:
        info = METRICS[Metric(metric)]
    except ValueError:
        if isinstance(value, str):
            return {"valueString": value}
        unit_text = {"unit": o.unit} if o.unit else {}
        return {"valueQuantity": {"value": _number(value, what), **unit_text}}
    if info.kind is not ValueKind.NUMBER:
        return {"valueString": str(value)}
    unit = o.unit
    # A wrong unit is worse than no export: refuse rather than send mm[Hg] labelled kPa.
    if unit and unit != info.unit:
        raise ValueError(f"{what}: unit {unit!r} is not the canonical {info.unit!r}")
    return {"valueQuantity": _quantity(value, info.unit, what)}


def _gcs_value(total: int | None) -> dict[str, Any]:
    """A GCS panel's own value: its total, or why there is none (a component not testable)."""
    if total is None:
        return {"dataAbsentReason": c.NOT_TESTABLE}
    return {"valueQuantity": _quantity(total, "{score}", "GCS total")}


class _Builder:
    """Accumulates bundle entries in a fixed order."""

    def __init__(self, ids: _Ids, patient_id: str, encounter_id: str, device_ids: dict[str, str]) -> None:
        self.ids, self.pid, self.eid, self.device_ids = ids, patient_id, encounter_id, device_ids
        self.entries: list[Resource] = []

    def add(self, resource: Resource) -> None:
        rtype, rid = resource["resourceType"], resource["id"]
        self.entries.append({"fullUrl": f"urn:uuid:{rid}", "resource": resource,
                             "request": {"method": "PUT", "url": f"{rtype}/{rid}"}})

    def observation(self, key: str, code: dict[str, Any], category: str | None,
                    rows: Sequence[Observation]) -> Resource:
        """The parts every Observation shares, taken from the row(s) it is made of."""
        first = rows[0]
        res: Resource = {"resourceType": "Observation", "id": self.ids(key), "status": "final"}
        if category:
            res["category"] = [{"coding": [_coding(c.OBS_CATEGORY, category, c.CATEGORY_DISPLAY[category])]}]
        res |= {"code": code, "subject": ref(self.pid), "encounter": ref(self.eid),
                "effectiveDateTime": iso(min(r.received_at for r in rows))}
        by = sorted({r.entered_by for r in rows if r.source == "manual" and r.entered_by})
        if by:
            res["performer"] = [{"display": name} for name in by]
        devices = {r.device for r in rows}
        if len(devices) == 1 and first.device:
            res["device"] = ref(self.device_ids[first.device])
        notes = []
        for r in rows:
            if r.device_time is not None and r.device_time != r.received_at:
                notes.append(f"{r.metric}: device clock {iso(r.device_time)}; received {iso(r.received_at)}")
            if r.flags:
                notes.append(f"{r.metric}: device flags {', '.join(map(str, r.flags))}")
        if notes:
            res["note"] = [{"text": "; ".join(notes)}]
        return res

    def single(self, o: Observation) -> None:
        code, category = _metric_code(o.metric)
        self.add(self.observation(f"observation:{o.id}", code, category, [o]) | _value(o))

    def panel(self, key: str, panel_loinc: str, rows: Sequence[Observation], value: dict[str, Any]) -> None:
        code = {"coding": [_coding(c.LOINC, panel_loinc, c.LOINC_DISPLAY[panel_loinc])],
                "text": c.LOINC_DISPLAY[panel_loinc]}
        res = self.observation(key, code, "vital-signs", rows) | value
        res["component"] = [{"code": _metric_code(r.metric)[0]} | _value(r) for r in rows]
        self.add(res)


def _series(b: _Builder, w: SeriesWindow) -> Resource:
    """A window of a monitor's full-rate series as one Observation with valueSampledData (FHIR R4)."""
    code, category = _metric_code(w.metric)
    res: Resource = {"resourceType": "Observation", "id": b.ids(f"series:{w.device}:{w.metric}:{w.index}"),
                     "status": "final"}
    if category:
        res["category"] = [{"coding": [_coding(c.OBS_CATEGORY, category, c.CATEGORY_DISPLAY[category])]}]
    return res | {"code": code, "subject": ref(b.pid), "encounter": ref(b.eid),
                  "effectivePeriod": {"start": iso(w.start_ms), "end": iso(w.end_ms)},
                  "device": ref(b.device_ids[w.device]),
                  "valueSampledData": {"origin": {"value": 0, "unit": w.unit, "system": c.UCUM, "code": w.unit},
                                       "period": PERIOD_MS, "dimensions": 1, "data": w.data}}


def _patient(p: Patient, pid: str) -> Resource:
    res: Resource = {"resourceType": "Patient", "id": pid}
    nhs = p.nhs_number
    # Only a number that passes Modulus 11: a mistyped one would attach this record to someone else.
    if nhs and valid_nhs_number(nhs):
        res["identifier"] = [{"system": c.NHS_NUMBER, "value": normalise_nhs_number(nhs)}]
    if p.name:
        res["name"] = [{"text": p.name}]
    if p.sex in c.GENDER:
        res["gender"] = c.GENDER[p.sex]
    if p.date_of_birth:
        res["birthDate"] = p.date_of_birth
    return res


def _encounter(record: EncounterRecord, eid: str, pid: str) -> Resource:
    times = record.times
    res: Resource = {"resourceType": "Encounter", "id": eid}
    recorded = [(n, t) for n in TIMES if (t := getattr(times, n)) is not None]
    if recorded:
        # The ambulance milestones have no R4 element of their own; the narrative keeps them readable.
        items = "".join(f"<li>{escape(n.replace('_', ' '))}: {iso(t)}</li>" for n, t in recorded)
        div = f'<div xmlns="http://www.w3.org/1999/xhtml"><p>Ambulance times (UTC)</p><ul>{items}</ul></div>'
        res["text"] = {"status": "additional", "div": div}
    if record.incident_ref:
        res["identifier"] = [{"type": {"text": "incident reference"}, "value": record.incident_ref}]
    res |= {"status": c.ENCOUNTER_STATUS[record.status], "class": dict(c.ENCOUNTER_CLASS),
            "subject": ref(pid)}
    start = recorded[0][1] if recorded else record.created_at
    period = {"start": iso(start)}
    end = times.clear or times.handover
    if record.status != "open" and end is not None and end >= start:
        period["end"] = iso(end)
    res["period"] = period
    if record.complaint:
        res["reasonCode"] = [{"text": record.complaint}]
    return res


def _device(name: str, known: KnownDevice | None, did: str) -> Resource:
    # A device no longer configured still gets its Device resource, named only.
    info = known.info if known else {}
    names = [{"name": name, "type": "user-friendly-name"}]
    if info.get("model"):
        names.append({"name": str(info["model"]), "type": "model-name"})
    res: Resource = {"resourceType": "Device", "id": did, "deviceName": names}
    maker = info.get("maker") or info.get("manufacturer")
    if maker:
        res["manufacturer"] = str(maker)
    if info.get("model"):
        res["modelNumber"] = str(info["model"])
    if info.get("serial"):
        res["serialNumber"] = str(info["serial"])
    if info.get("firmware"):
        res["version"] = [{"value": str(info["firmware"])}]
    if known and known.protocol:
        res["note"] = [{"text": f"protocol {known.protocol}"}]
    return res


def _actor(by: str | None, entered_by: str | None) -> list[dict[str, Any]]:
    who = by or entered_by
    return [{"actor": {"display": who}}] if who else []


def _treatments(b: _Builder, record: EncounterRecord) -> None:
    for m in sorted(record.medications_given, key=lambda m: (m.time, m.id)):
        what = f"medication {m.id}"
        unit = str(m.unit or "")
        dose: dict[str, Any] = {"value": _number(m.dose, what)}
        if unit:
            dose["unit"] = unit
        if unit in c.DOSE_UCUM:
            dose |= {"system": c.UCUM, "code": c.DOSE_UCUM[unit]}
        # R4 names the encounter link "context" here (R5 renamed it "encounter").
        res: Resource = {"resourceType": "MedicationAdministration",
                         "id": b.ids(f"medication-administration:{m.id}"), "status": "completed",
                         "medicationCodeableConcept": {"text": m.drug}, "subject": ref(b.pid),
                         "context": ref(b.eid), "effectiveDateTime": iso(m.time)}
        if performer := _actor(m.given_by, m.entered_by):
            res["performer"] = performer
        route = m.route
        dosage: dict[str, Any] = {"text": " ".join(
            x for x in (str(m.drug), f"{m.dose:g}", unit, route or "") if x)}
        if route:
            dosage["route"] = {"text": route}
        res["dosage"] = dosage | {"dose": dose}
        b.add(res)
    for i in sorted(record.interventions, key=lambda i: (i.time, i.id)):
        res = {"resourceType": "Procedure", "id": b.ids(f"procedure:{i.id}"), "status": "completed",
               "code": {"text": i.what}, "subject": ref(b.pid), "encounter": ref(b.eid),
               "performedDateTime": iso(i.time)}
        if performer := _actor(i.by, i.entered_by):
            res["performer"] = performer
        b.add(res)


def _history(b: _Builder, patient: Patient) -> None:
    # Index-based keys: an allergy's text must not reach an id, even hashed.
    for n, allergy in enumerate(patient.allergies):
        b.add({"resourceType": "AllergyIntolerance", "id": b.ids(f"allergy:{n}"),
               "clinicalStatus": {"coding": [_coding(c.ALLERGY_CLINICAL, "active", "Active")]},
               # Reported to the crew, not confirmed by a test: "unconfirmed".
               "verificationStatus": {"coding": [
                   _coding(c.ALLERGY_VERIFICATION, "unconfirmed", "Unconfirmed")]},
               "code": {"text": allergy}, "patient": ref(b.pid), "encounter": ref(b.eid)})
    for n, drug in enumerate(patient.medications):
        b.add({"resourceType": "MedicationStatement", "id": b.ids(f"medication-statement:{n}"),
               "status": "active",
               "medicationCodeableConcept": {"text": drug}, "subject": ref(b.pid), "context": ref(b.eid)})


def encounter_bundle(record: EncounterRecord, observations: Sequence[Observation],
                     devices: Sequence[KnownDevice], *, now_ms: int, id_for: IdFor,
                     panels: bool = True, series: Sequence[SeriesWindow] = ()) -> dict[str, Any]:
    """The encounter as a FHIR R4 transaction Bundle; the same input always gives the same output.

    panels=False keeps every reading its own Observation (no blood-pressure or GCS panels): when
    observations are forwarded live, a batch boundary may fall between a systolic and its diastolic, and
    the record sent at handover must then carry the very same Observations (same ids), not panels too.
    series: the monitors' full-rate series (fhir_series), one SampledData Observation per window."""
    ids = _Ids(id_for)
    bundle_id, pid, eid = ids("bundle"), ids("patient"), ids("encounter")
    patient = record.patient
    rows = sorted(observations, key=lambda o: (o.received_at, o.id))
    known = {d.name: d for d in devices}
    used = sorted({o.device for o in rows if o.device} | {w.device for w in series})
    device_ids = {name: ids(f"device:{name}") for name in used}
    b = _Builder(ids, pid, eid, device_ids)
    b.add(_patient(patient, pid))
    b.add(_encounter(record, eid, pid))
    for name in used:
        b.add(_device(name, known.get(name), device_ids[name]))
    if patient.estimated_age is not None and not patient.date_of_birth:
        # LOINC 30525-0 "Age" with UCUM "a" (year): an estimate is still worth sending; the note says so.
        b.add({"resourceType": "Observation", "id": ids("estimated-age"), "status": "final",
               "code": {"coding": [_coding(c.LOINC, "30525-0", "Age")], "text": "estimated age"},
               "subject": ref(pid), "encounter": ref(eid), "effectiveDateTime": iso(record.created_at),
               "valueQuantity": {"value": _number(patient.estimated_age, "estimated age"), "unit": "years",
                                 "system": c.UCUM, "code": "a"},
               "note": [{"text": "estimated by the crew; date of birth not known"}]})
    bp, rest = blood_pressure_pairs(rows) if panels else ([], rows)
    gcs, rest = gcs_groups(rest) if panels else ([], rest)
    # One time-ordered stream: panels sort by their first reading, like the readings they replace. Each
    # item is (time, id, how to add it); the sort is stable and by time and id only, never the callable.
    items: list[tuple[int, int, Callable[[], None]]] = [
        (g[0].received_at, g[0].id, partial(b.panel, f"bp-panel:{g[0].id}", c.BP_PANEL, g, {})) for g in bp]
    items += [(min(r.received_at for r in parts), parts[0].id,
               partial(b.panel, f"gcs-panel:{parts[0].id}", c.GCS_TOTAL_LOINC, parts, _gcs_value(total)))
              for parts, total in gcs]
    items += [(o.received_at, o.id, partial(b.single, o)) for o in rest]
    for _, _, add in sorted(items, key=lambda i: (i[0], i[1])):
        add()
    for w in series:
        b.add(_series(b, w))
    _history(b, patient)
    _treatments(b, record)
    return {"resourceType": "Bundle", "id": bundle_id,
            "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{bundle_id}"},
            "type": "transaction", "timestamp": iso(now_ms), "entry": b.entries}
