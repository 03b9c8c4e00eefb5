"""Handover documents: ATMIST and the written summary as text, and the record as a FHIR R4 Bundle.

The same Bundle (same resource ids) is what the uplink forwards and what GET .../fhir exports, so a record
both exported and forwarded is one record upstream.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from edge_app.clinical import handover
from edge_app.clinical.assess import age_years, news2_trend
from edge_app.clinical.fhir import encounter_bundle
from edge_app.clinical.fhir_series import series_windows
from edge_app.clinical.vitals import pulse_for_news2
from edge_app.clock import box_zone, now_ms
from edge_app.config import Config
from edge_app.model.encounter import EncounterEvent, EncounterRecord
from edge_app.model.news2 import News2
from edge_app.model.observation import Observation
from edge_app.services.vitals import VitalsService
from edge_app.store.access import Store

# ids in a bundle are uuid5s under this namespace, from row ids and fixed words, never patient data
ID_NAMESPACE = uuid.UUID("5f0d7c3e-2a51-4c6b-9e7a-0c1d2e3f4a5b")
PAGE = 10_000
HandoverFormat = Literal["atmist", "summary"]


@dataclass(frozen=True, slots=True)
class HandoverInputs:
    """Everything the handover documents are made from, read in one go."""

    record: EncounterRecord
    latest: dict[str, Observation]
    news2: News2
    observations: list[Observation]
    news2_trend: list[tuple[int, int]]


def scale_changes(events: list[EncounterEvent]) -> list[tuple[int, int]]:
    """(from_ms, scale) of the record's SpO2 scale over time: scale 1 from creation, then each change, so
    the trend scores each moment with the scale in force then (RCP NEWS2 2017: scale 2 only once a
    clinician has prescribed the 88-92% target)."""
    out = [(0, 1)]
    for e in events:
        if e.kind == "set" and e.path == "spo2_scale" and e.value in (1, 2):
            out.append((e.at, int(e.value)))
    return out


class HandoverService:
    def __init__(self, store: Store, config: Config, vitals: VitalsService) -> None:
        self.store = store
        self.config = config
        self.vitals = vitals

    def all_observations(self, encounter_id: str) -> list[Observation]:
        """The encounter's charted record (every entry, device values as charted), in sequence order (call
        on a reader thread): what the handover reads and upstream carries, not every 1 Hz reading."""
        out: list[Observation] = []
        after = 0
        while page := self.store.reader.observations(encounter_id=encounter_id, after=after, limit=PAGE,
                                                     charted=True):
            out += page
            after = page[-1].id
        return out

    def inputs(self, encounter_id: str, now: int) -> HandoverInputs:
        reader = self.store.reader
        record = reader.encounter(encounter_id)
        observations = self.all_observations(encounter_id)
        age = age_years(record.patient, now)
        vitals, news2 = self.vitals.assess(encounter_id)
        # Each metric's value as the vitals rule picks it: the handover reads what the screen shows.
        latest = {m: reader.observation(v.observation_id) for m, v in vitals.vitals.items()
                  if v.observation_id is not None}
        pulse = news2.inputs.get("pulse") or pulse_for_news2(vitals.vitals, self.vitals.rules.manual_precedence_ms)
        if pulse is not None and pulse.metric == "pulse_rate":
            latest.pop("heart_rate", None)  # the handover says the pulse NEWS2 scored (a stale ECG rate is not it)
        return HandoverInputs(record=record, latest=latest, news2=news2, observations=observations,
                              news2_trend=news2_trend(observations, scale_changes(reader.events(encounter_id)), age,
                                                      self.vitals.rules))

    def text(self, encounter_id: str, fmt: HandoverFormat, actor: str) -> str:
        """ATMIST to read aloud, or the full written summary; audited (call on a reader thread)."""
        now = now_ms()
        i = self.inputs(encounter_id, now)
        render = handover.atmist if fmt == "atmist" else handover.summary
        text = render(i.record, i.latest, i.news2, i.news2_trend, i.observations, now_ms=now,
                      tz=box_zone(self.config.timezone))
        self.store.audit(actor, "encounter.export", encounter_id, {"format": fmt})
        return text

    def fhir(self, encounter_id: str, actor: str) -> dict[str, Any]:
        """The record as the uplink would send it; audited (call on a reader thread)."""
        up = self.config.upstream
        bundle = self.bundle(encounter_id, now_ms(), panels=not (up and up.live_observations),
                             series=bool(up and up.raw_series))
        self.store.audit(actor, "encounter.export", encounter_id, {"format": "fhir"})
        return bundle

    def bundle(self, encounter_id: str, now: int, *, panels: bool = True,
               observations: list[Observation] | None = None, series: bool = False) -> dict[str, Any]:
        """The encounter's Bundle; with observations, only those (a live batch: see encounter_bundle); with
        series, the monitors' full-rate series too, a SampledData Observation per chart interval."""
        reader = self.store.reader
        record = reader.encounter(encounter_id)
        if observations is None:
            observations = self.all_observations(encounter_id)
        windows = series_windows(self.raw_readings(encounter_id), self.vitals.chart_interval_ms or 300_000,
                                 record.created_at) if series else []
        used = {o.device for o in observations if o.device} | {w.device for w in windows}
        devices = [d for d in reader.devices() if d.name in used]
        return encounter_bundle(record, observations, devices, now_ms=now, panels=panels, series=windows,
                                id_for=lambda key: str(uuid.uuid5(ID_NAMESPACE, f"{encounter_id}/{key}")))

    def raw_readings(self, encounter_id: str) -> list[Observation]:
        """Every reading of the encounter as it came (the full-rate series), in sequence order."""
        out: list[Observation] = []
        after = 0
        while page := self.store.reader.observations(encounter_id=encounter_id, after=after, limit=PAGE):
            out += [o for o in page if o.source == "device"]
            after = page[-1].id
        return out
