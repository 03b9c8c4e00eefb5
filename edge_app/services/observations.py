"""Observations: a clinician's entries (and a Glasgow Coma Scale), and the listings of what was stored."""
from __future__ import annotations

import msgspec

from edge_app.clinical.gcs import Gcs, GcsError
from edge_app.clock import now_ms
from edge_app.errors import Conflict
from edge_app.model.events import ObservationAdded
from edge_app.model.observation import GcsResult, NewObservation, Observation
from edge_app.model.requests import GcsCreate, ObservationCreate
from edge_app.model.vitals import ChartSet
from edge_app.services.hub import Hub
from edge_app.services.upstream import UpstreamService
from edge_app.services.validate import CHECKED_AGAINST_RECORD, bad, check_against_record, manual_value, parse_time
from edge_app.services.vitals import VitalsService
from edge_app.store.access import Store
from edge_app.store.encounters import RecordClosed
from edge_app.store.observations import insert_manual_observations


class ObservationService:
    def __init__(self, store: Store, hub: Hub, vitals: VitalsService, upstream: UpstreamService) -> None:
        self.store = store
        self.hub = hub
        self.vitals = vitals
        self.upstream = upstream

    async def add(self, encounter_id: str, data: ObservationCreate, actor: str) -> Observation:
        """One manual entry, checked against the metric's vocabulary, unit and range."""
        metric, value, unit = manual_value(data)
        new = NewObservation(metric=str(metric), value=value, unit=unit,
                             received_at=parse_time(data.time, now_ms(), "time"), source="manual", entered_by=actor)
        if metric in CHECKED_AGAINST_RECORD:
            await self.store.read(lambda: check_against_record(self.store.reader, encounter_id, new))
        [row] = await self._store(encounter_id, [new], actor)
        return row

    async def add_gcs(self, encounter_id: str, data: GcsCreate, actor: str) -> GcsResult:
        """Eye, verbal and motor (each a score or NT) as one assessment; the total only when all are scored."""
        try:
            gcs = Gcs.of(data.eye, data.verbal, data.motor)
        except GcsError as exc:
            raise bad(str(exc)) from None
        at = parse_time(data.time, now_ms(), "time")
        values: list[tuple[str, int | str]] = [("gcs_eye", gcs.eye), ("gcs_verbal", gcs.verbal),
                                               ("gcs_motor", gcs.motor)]
        if gcs.total is not None:
            values.append(("gcs_total", gcs.total))
        new = [NewObservation(metric=m, value=v, unit="{score}", received_at=at, source="manual", entered_by=actor)
               for m, v in values]
        rows = await self._store(encounter_id, new, actor)
        return GcsResult(total=gcs.total, text=gcs.describe(), observations=rows)

    async def _store(self, encounter_id: str, new: list[NewObservation], actor: str) -> list[Observation]:
        try:
            ids = await self.store.write(insert_manual_observations(encounter_id, new, actor))
        except RecordClosed as exc:
            raise Conflict(str(exc)) from None
        self.upstream.observations_stored()
        reader = self.store.reader
        rows = await self.store.read(lambda: [reader.observation(i) for i in ids])
        for row in rows:
            self.hub.publish(ObservationAdded(**msgspec.structs.asdict(row)))
        await self.vitals.publish_news2(encounter_id)
        return rows

    async def chart(self, encounter_id: str, actor: str) -> ChartSet:
        """Chart the devices' current values now, as the crew asked (one key, one API call), and let the
        uplink know. Conflict when there is nothing current to chart, or the record is closed."""
        try:
            got = await self.store.read(lambda: self.vitals.chart(encounter_id, "asked", actor))
        except RecordClosed as exc:
            raise Conflict(str(exc)) from None
        if got is None:
            raise Conflict("no device has a current value to chart (see /vitals: stale or unreliable values "
                           "are not charted)")
        self.upstream.observations_stored()
        return got

    def of_encounter(self, encounter_id: str, metric: str | None, after: int, limit: int,
                     actor: str, *, charted: bool = True) -> list[Observation]:
        """An encounter's charted record, or every reading (charted=False), in sequence order; audited (call
        on a reader thread)."""
        reader = self.store.reader
        reader.encounter(encounter_id)  # NotFoundError if there is no such encounter
        rows = reader.observations(encounter_id=encounter_id, metric=metric, after=after, limit=limit,
                                   charted=charted)
        self.store.audit(actor, "observation.list", encounter_id, {"count": len(rows)})
        return rows

    def all(self, unassigned: bool, device: str | None, metric: str | None, after: int, limit: int,
            actor: str) -> list[Observation]:
        """Every observation in sequence order, or those with no encounter; audited (on a reader thread)."""
        rows = self.store.reader.observations(unassigned=unassigned, device=device, metric=metric, after=after,
                                              limit=limit)
        self.store.audit(actor, "observation.list", None, {"count": len(rows), "unassigned": unassigned})
        return rows
