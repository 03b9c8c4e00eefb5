"""Encounters: create, read, change (field-level conflict check), time stamps, medications, notes, history."""
from __future__ import annotations

import builtins
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.exceptions import ClientException
from litestar.params import Parameter

from edge_app.api.common import EncounterId, actor_of, now_ms, store_call, store_write
from edge_app.api.context import AppContext
from edge_app.api.schemas import (
    Encounter,
    EncounterCreate,
    EncounterEvent,
    EncounterPatch,
    Intervention,
    InterventionCreate,
    MedicationCreate,
    MedicationGiven,
    Note,
    NoteCreate,
    TimeStamp,
)
from edge_app.api.validate import bad, encounter_changes, parse_time
from edge_app.store import encounters

TimeName = Literal["call", "mobile", "at_scene", "at_patient", "left_scene", "at_hospital", "handover", "clear"]


def _enc(row: dict[str, Any]) -> Encounter:
    return msgspec.convert(row, Encounter)


def _if_match(request: Request[Any, Any, Any]) -> int | None:
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    tag = raw.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 12:
        raise ClientException(detail="If-Match: expected the encounter's version number, e.g. \"7\"",
                              status_code=400)
    return int(tag)


class EncounterController(Controller):
    path = "/api/v1/encounters"
    tags = ["encounters"]

    async def _changed(self, ctx: AppContext, encounter_id: str) -> Encounter:
        enc = await ctx.read(lambda: ctx.reader.encounter(encounter_id))
        ctx.hub.publish("encounter", enc)
        return _enc(enc)

    @post("/", status_code=201, summary="Open a new encounter; it becomes the active one")
    async def create(self, ctx: AppContext, data: EncounterCreate, request: Request[Any, Any, Any]) -> Encounter:
        eid = await ctx.write(encounters.create_encounter(now_ms(), actor_of(request), data.incident_ref.strip()))
        return await self._changed(ctx, eid)

    @get("/", summary="Encounters, newest first", sync_to_thread=True)
    def list(self, ctx: AppContext, request: Request[Any, Any, Any], status: Annotated[str | None, Parameter(
            pattern="^(open|handed_over|closed)$")] = None,
             limit: Annotated[int, Parameter(ge=1, le=1000)] = 100) -> builtins.list[Encounter]:
        rows = ctx.reader.encounters(status=status, limit=limit)
        ctx.audit(actor_of(request), "encounter.list", None, {"encounters": [e["id"] for e in rows]})
        return [_enc(e) for e in rows]

    @get("/{encounter_id:str}", summary="One encounter; its version is the ETag")
    async def get_one(self, ctx: AppContext, encounter_id: EncounterId, request: Request[Any, Any, Any]
                      ) -> Response[Encounter]:
        # The tablets' most frequent read, answered on the event loop: one row by its key and the count
        # the Reader keeps, tens of microseconds. On a worker thread the hop cost far more: each SQLite
        # call hands the GIL back to a busy loop and waits to get it again (measured over TLS: half the
        # throughput, twice the p99). Only a first read (or one after a quiet minute), which counts the
        # encounter's observations through its index, goes to a thread.
        def read() -> dict[str, Any]:
            return store_call(lambda: ctx.reader.encounter(encounter_id))

        enc = _enc(read() if ctx.reader.count_known(encounter_id) else await ctx.read(read))
        ctx.audit(actor_of(request), "encounter.read", encounter_id)
        return Response(enc, headers={"ETag": f'"{enc.version}"'})

    @patch("/{encounter_id:str}", summary="Change fields. If-Match: the version you read; 409 (with the current "
                                          "record) only if a field you change was changed since")
    async def update(self, ctx: AppContext, encounter_id: EncounterId, data: EncounterPatch,
                     request: Request[Any, Any, Any]) -> Response[Encounter]:
        changes = encounter_changes(data, now_ms())
        version = _if_match(request)
        forward = ctx.config.upstream is not None
        await store_write(lambda: ctx.write(encounters.change_encounter(encounter_id, changes, now_ms(),
                                                                        actor_of(request), version, forward=forward)),
                          lambda: ctx.reader.encounter(encounter_id))
        if forward and changes.get("status") in ("handed_over", "closed"):
            ctx.upstream_wake()
        if {"spo2_scale", "patient.date_of_birth", "patient.estimated_age"} & set(changes):
            await ctx.publish_news2(encounter_id)
        enc = await self._changed(ctx, encounter_id)
        return Response(enc, headers={"ETag": f'"{enc.version}"'})

    @post("/{encounter_id:str}/times/{which:str}", status_code=200,
          summary="Stamp a time (now, or the given time): one key in the cab")
    async def stamp(self, ctx: AppContext, encounter_id: EncounterId, which: TimeName,
                    request: Request[Any, Any, Any], data: TimeStamp | None = None) -> Encounter:
        at = parse_time(data.time if data else None, now_ms(), f"times.{which}")
        await store_write(lambda: ctx.write(encounters.change_encounter(encounter_id, {f"times.{which}": at},
                                                                        now_ms(), actor_of(request))))
        return await self._changed(ctx, encounter_id)

    async def _append(self, ctx: AppContext, encounter_id: str, list_name: str, item: dict[str, Any],
                      request: Request[Any, Any, Any]) -> dict[str, Any]:
        entry = await store_write(lambda: ctx.write(encounters.append_item(encounter_id, list_name, item, now_ms(),
                                                                           actor_of(request))))
        await self._changed(ctx, encounter_id)
        return entry

    @post("/{encounter_id:str}/medications", status_code=201, summary="Record a medication given")
    async def add_medication(self, ctx: AppContext, encounter_id: EncounterId, data: MedicationCreate,
                             request: Request[Any, Any, Any]) -> MedicationGiven:
        if not data.drug.strip():
            raise bad("drug: must not be blank")
        item = {"drug": data.drug.strip(), "dose": data.dose, "unit": data.unit.strip(), "route": data.route.strip(),
                "time": parse_time(data.time, now_ms(), "time"), "given_by": data.given_by}
        return msgspec.convert(await self._append(ctx, encounter_id, "medications_given", item, request),
                               MedicationGiven)

    @post("/{encounter_id:str}/interventions", status_code=201, summary="Record an intervention")
    async def add_intervention(self, ctx: AppContext, encounter_id: EncounterId, data: InterventionCreate,
                               request: Request[Any, Any, Any]) -> Intervention:
        if not data.what.strip():
            raise bad("what: must not be blank")
        item = {"what": data.what.strip(), "time": parse_time(data.time, now_ms(), "time"), "by": data.by}
        return msgspec.convert(await self._append(ctx, encounter_id, "interventions", item, request), Intervention)

    @post("/{encounter_id:str}/notes", status_code=201, summary="Add a note")
    async def add_note(self, ctx: AppContext, encounter_id: EncounterId, data: NoteCreate,
                       request: Request[Any, Any, Any]) -> Note:
        if not data.text.strip():
            raise bad("text: must not be blank")
        item = {"text": data.text.strip(), "time": parse_time(data.time, now_ms(), "time")}
        return msgspec.convert(await self._append(ctx, encounter_id, "notes", item, request), Note)

    @get("/{encounter_id:str}/events", summary="Every change to the record, in order", sync_to_thread=True)
    def events(self, ctx: AppContext, encounter_id: EncounterId, request: Request[Any, Any, Any]
               ) -> builtins.list[EncounterEvent]:
        events = store_call(lambda: ctx.reader.events(encounter_id))
        ctx.audit(actor_of(request), "encounter.events.read", encounter_id)
        return [msgspec.convert(e, EncounterEvent) for e in events]
