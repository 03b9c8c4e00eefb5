"""Encounters: create, read, change (field-level conflict check), time stamps, medications, notes, history."""
from __future__ import annotations

import builtins
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.exceptions import ClientException
from litestar.params import Parameter

from edge_app.api.common import EncounterId, actor_of
from edge_app.api.guards import CREW, admits
from edge_app.model.encounter import Encounter, EncounterEvent, Intervention, MedicationGiven, Note, TimeName
from edge_app.model.requests import (
    EncounterCreate,
    EncounterPatch,
    InterventionCreate,
    MedicationCreate,
    NoteCreate,
    TimeStamp,
)
from edge_app.services.encounters import EncounterService


def _if_match(request: Request[Any, Any, Any]) -> int | None:
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    tag = raw.strip().removeprefix("W/").strip('"')
    if not (tag.isascii() and tag.isdigit()) or len(tag) > 12:
        raise ClientException(detail="If-Match: expected the encounter's version number, e.g. \"7\"",
                              status_code=400)
    return int(tag)


def _tagged(enc: Encounter) -> Response[Encounter]:
    return Response(enc, headers={"ETag": f'"{enc.version}"'})


class EncounterController(Controller):
    path = "/api/v1/encounters"
    tags = ["encounters"]
    opt = admits(CREW)

    @post("/", status_code=201, summary="Open a new encounter; it becomes the active one")
    async def create(self, encounters: EncounterService, data: EncounterCreate,
                     request: Request[Any, Any, Any]) -> Encounter:
        return await encounters.create(data.incident_ref, actor_of(request))

    @get("/", summary="Encounters, newest first", sync_to_thread=True, opt=admits(CREW))
    def list(self, encounters: EncounterService, request: Request[Any, Any, Any],
             status: Annotated[str | None, Parameter(pattern="^(open|handed_over|closed)$")] = None,
             limit: Annotated[int, Parameter(ge=1, le=1000)] = 100) -> builtins.list[Encounter]:
        return encounters.list(status, limit, actor_of(request))

    @get("/{encounter_id:str}", summary="One encounter; its version is the ETag", opt=admits(CREW))
    async def get_one(self, encounters: EncounterService, encounter_id: EncounterId,
                      request: Request[Any, Any, Any]) -> Response[Encounter]:
        return _tagged(await encounters.read(encounter_id, actor_of(request)))

    @patch("/{encounter_id:str}", summary="Change fields. If-Match: the version you read; 409 (with the current "
                                          "record) only if a field you change was changed since")
    async def update(self, encounters: EncounterService, encounter_id: EncounterId, data: EncounterPatch,
                     request: Request[Any, Any, Any]) -> Response[Encounter]:
        return _tagged(await encounters.update(encounter_id, data, _if_match(request), actor_of(request)))

    @post("/{encounter_id:str}/times/{which:str}", status_code=200,
          summary="Stamp a time (now, or the given time): one key in the cab")
    async def stamp(self, encounters: EncounterService, encounter_id: EncounterId, which: TimeName,
                    request: Request[Any, Any, Any], data: TimeStamp | None = None) -> Encounter:
        return await encounters.stamp(encounter_id, which, data.time if data else None, actor_of(request))

    @post("/{encounter_id:str}/medications", status_code=201, summary="Record a medication given")
    async def add_medication(self, encounters: EncounterService, encounter_id: EncounterId, data: MedicationCreate,
                             request: Request[Any, Any, Any]) -> MedicationGiven:
        return await encounters.add_medication(encounter_id, data, actor_of(request))

    @post("/{encounter_id:str}/interventions", status_code=201, summary="Record an intervention")
    async def add_intervention(self, encounters: EncounterService, encounter_id: EncounterId,
                               data: InterventionCreate, request: Request[Any, Any, Any]) -> Intervention:
        return await encounters.add_intervention(encounter_id, data, actor_of(request))

    @post("/{encounter_id:str}/notes", status_code=201, summary="Add a note")
    async def add_note(self, encounters: EncounterService, encounter_id: EncounterId, data: NoteCreate,
                       request: Request[Any, Any, Any]) -> Note:
        return await encounters.add_note(encounter_id, data, actor_of(request))

    @get("/{encounter_id:str}/events", summary="Every change to the record, in order", sync_to_thread=True,
         opt=admits(CREW))
    def events(self, encounters: EncounterService, encounter_id: EncounterId, request: Request[Any, Any, Any]
               ) -> builtins.list[EncounterEvent]:
        return encounters.events(encounter_id, actor_of(request))
