"""The encounter record: open one, read, change fields (field-level conflicts), stamp times, add entries."""
from __future__ import annotations

import builtins
from typing import Any

import msgspec

from edge_app.clock import now_ms
from edge_app.config import Config
from edge_app.errors import Conflict
from edge_app.model.encounter import Encounter, EncounterEvent, Intervention, MedicationGiven, Note, TimeName
from edge_app.model.events import EncounterChanged
from edge_app.model.requests import EncounterPatch, InterventionCreate, MedicationCreate, NoteCreate, TimeIn
from edge_app.services.hub import Hub
from edge_app.services.upstream import UpstreamService
from edge_app.services.validate import bad, encounter_changes, parse_time
from edge_app.services.vitals import VitalsService
from edge_app.store import encounters
from edge_app.store.access import Store

# Changes that move NEWS2 without a new observation: the scale, and the patient's age (under 16 no score).
_NEWS2_FIELDS = {"spo2_scale", "patient.date_of_birth", "patient.estimated_age"}


class RecordConflict(Conflict):
    """A change based on a stale version touched fields someone else changed since: the current record
    and those fields, for the caller to show and choose."""

    def __init__(self, message: str, current: Encounter, fields: list[str]) -> None:
        super().__init__(message)
        self.current = current
        self.fields = fields


class EncounterService:
    def __init__(self, store: Store, hub: Hub, config: Config, vitals: VitalsService,
                 upstream: UpstreamService) -> None:
        self.store = store
        self.hub = hub
        self.config = config
        self.vitals = vitals
        self.upstream = upstream

    async def _changed(self, encounter_id: str) -> Encounter:
        """The record after a change, told to the stream."""
        enc = await self.store.read(lambda: self.store.reader.encounter(encounter_id))
        self.hub.publish(EncounterChanged(**msgspec.structs.asdict(enc)))
        return enc

    async def create(self, incident_ref: str, actor: str) -> Encounter:
        """A new open encounter; being the newest open one, it becomes the active one."""
        eid = await self.store.write(encounters.create_encounter(now_ms(), actor, incident_ref.strip()))
        return await self._changed(eid)

    def list(self, status: str | None, limit: int, actor: str) -> list[Encounter]:
        """Newest first; audited (call on a reader thread)."""
        rows = self.store.reader.encounters(status=status, limit=limit)
        self.store.audit(actor, "encounter.list", None, {"encounters": [e.id for e in rows]})
        return rows

    async def read(self, encounter_id: str, actor: str) -> Encounter:
        """One encounter, for the tablets' most frequent read: answered on the event loop when that is one
        row by its key and the count the Reader keeps (tens of microseconds). On a worker thread the hop
        costs far more: each SQLite call hands the GIL back to a busy loop and waits to get it again
        (measured over TLS: half the throughput, twice the p99). Only a first read (or one after a quiet
        minute), which counts the encounter's observations through its index, goes to a thread."""
        if self.store.reader.count_known(encounter_id):
            return self.get(encounter_id, actor)
        return await self.store.read(lambda: self.get(encounter_id, actor))

    def get(self, encounter_id: str, actor: str) -> Encounter:
        """One encounter; audited (NotFoundError if none)."""
        enc = self.store.reader.encounter(encounter_id)
        self.store.audit(actor, "encounter.read", encounter_id)
        return enc

    async def update(self, encounter_id: str, patch: EncounterPatch, version: int | None, actor: str) -> Encounter:
        """Change fields; with version (If-Match), refuse only if a field changed here changed since."""
        changes = encounter_changes(patch, now_ms())
        forward = self.config.upstream is not None
        if changes.get("status") in ("handed_over", "closed"):
            # The record ends with the devices' values at handover, charted while it may still change.
            await self.store.read(lambda: self._chart_at_handover(encounter_id, actor))
        try:
            await self.store.write(encounters.change_encounter(encounter_id, changes, now_ms(), actor, version,
                                                               forward=forward))
        except encounters.VersionConflict as exc:
            current = await self.store.read(lambda: self.store.reader.encounter(encounter_id))
            raise RecordConflict(str(exc), current, exc.fields) from None
        except encounters.RecordClosed as exc:
            raise Conflict(str(exc)) from None
        if "status" in changes:
            self.upstream.record_status_changed(changes["status"])
        if _NEWS2_FIELDS & set(changes):
            await self.vitals.publish_news2(encounter_id)
        return await self._changed(encounter_id)

    def _chart_at_handover(self, encounter_id: str, actor: str) -> None:
        if self.store.reader.encounter(encounter_id).status == "open":
            self.vitals.chart(encounter_id, "handover", actor)

    async def stamp(self, encounter_id: str, which: TimeName, at: TimeIn | None, actor: str) -> Encounter:
        """Stamp a time: now, or the given time (one key in the cab)."""
        when = parse_time(at, now_ms(), f"times.{which}")
        await self._write(encounters.change_encounter(encounter_id, {f"times.{which}": when}, now_ms(), actor))
        return await self._changed(encounter_id)

    async def add_medication(self, encounter_id: str, data: MedicationCreate, actor: str) -> MedicationGiven:
        if not data.drug.strip():
            raise bad("drug: must not be blank")
        item = {"drug": data.drug.strip(), "dose": data.dose, "unit": data.unit.strip(), "route": data.route.strip(),
                "time": parse_time(data.time, now_ms(), "time"), "given_by": data.given_by}
        entry: MedicationGiven = await self._append(encounter_id, "medications_given", item, actor)
        return entry

    async def add_intervention(self, encounter_id: str, data: InterventionCreate, actor: str) -> Intervention:
        if not data.what.strip():
            raise bad("what: must not be blank")
        item = {"what": data.what.strip(), "time": parse_time(data.time, now_ms(), "time"), "by": data.by}
        entry: Intervention = await self._append(encounter_id, "interventions", item, actor)
        return entry

    async def add_note(self, encounter_id: str, data: NoteCreate, actor: str) -> Note:
        if not data.text.strip():
            raise bad("text: must not be blank")
        entry: Note = await self._append(encounter_id, "notes", {"text": data.text.strip(),
                                                                 "time": parse_time(data.time, now_ms(), "time")},
                                         actor)
        return entry

    def events(self, encounter_id: str, actor: str) -> builtins.list[EncounterEvent]:
        """Every change to the record, in order; audited (call on a reader thread)."""
        events = self.store.reader.events(encounter_id)
        self.store.audit(actor, "encounter.events.read", encounter_id)
        return events

    async def _append(self, encounter_id: str, list_name: str, item: dict[str, Any], actor: str) -> Any:
        entry = await self._write(encounters.append_item(encounter_id, list_name, item, now_ms(), actor))
        await self._changed(encounter_id)
        return entry

    async def _write(self, op: encounters.Op) -> Any:
        try:
            return await self.store.write(op)
        except encounters.RecordClosed as exc:
            raise Conflict(str(exc)) from None
