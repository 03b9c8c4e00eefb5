"""Encounters and their observations."""
from __future__ import annotations

import time
from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Parameter

from edge_app.api.context import AppContext
from edge_app.api.schemas import (
    Encounter,
    EncounterCreate,
    EncounterPatch,
    News2,
    News2Parameters,
    Observation,
    ObservationCreate,
)
from edge_app.api.validate import manual_time, manual_value
from edge_app.errors import NotFoundError
from edge_app.store import records

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
EncounterId = Annotated[str, Parameter(pattern=UUID_RE, max_length=36, description="encounter id (UUID)")]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def actor_of(request: Request[Any, Any, Any]) -> str:
    """Who is asking, for the audit log (tablet tokens come with pairing)."""
    client = request.scope.get("client")
    return f"tcp:{client[0]}" if client else "local"


def _enc(row: dict[str, Any]) -> Encounter:
    return Encounter(**row)


def news2_of(latest: dict[str, dict[str, Any]], scale: int) -> News2:
    """Score an encounter's latest values (pulse: heart_rate, else pulse_rate)."""
    from edge_app.clinical import news2 as n2

    def value(metric: str) -> Any:
        row = latest.get(metric)
        return None if row is None else row["value"]

    pulse_metric = "heart_rate" if "heart_rate" in latest else "pulse_rate"
    inputs = n2.News2Inputs(resp_rate=value("resp_rate"), spo2=value("spo2"),
                            oxygen_supplement=value("oxygen_supplement"), bp_systolic=value("bp_systolic"),
                            pulse=value(pulse_metric), consciousness=value("consciousness"),
                            temperature=value("temperature"))
    r = n2.news2(inputs, scale)
    used = {k: latest[m] for k, m in (("resp_rate", "resp_rate"), ("spo2", "spo2"),
                                      ("oxygen_supplement", "oxygen_supplement"), ("bp_systolic", "bp_systolic"),
                                      ("pulse", pulse_metric), ("consciousness", "consciousness"),
                                      ("temperature", "temperature")) if m in latest}
    return News2(total=r.total, risk=r.risk, scale=r.scale, parameters=News2Parameters(**r.parameters),
                 missing=r.missing, red_score=r.red_score, response=r.response,
                 inputs={k: {"metric": v["metric"], "value": v["value"], "time": v["received_at"],
                             "source": v["device"] or v["source"]} for k, v in used.items()})


class EncounterController(Controller):
    path = "/api/v1/encounters"
    tags = ["encounters"]

    @post("/", status_code=201, summary="Open a new encounter; it becomes the active one")
    async def create(self, ctx: AppContext, data: EncounterCreate, request: Request[Any, Any, Any]) -> Encounter:
        eid = await ctx.write(records.create_encounter(now_ms(), actor_of(request), data.incident_ref))
        enc = ctx.reader.encounter(eid)
        ctx.hub.publish("encounter", enc)
        return _enc(enc)

    @get("/", summary="Encounters, newest first", sync_to_thread=True)
    def list(self, ctx: AppContext, status: Annotated[str | None, Parameter(
            pattern="^(open|handed_over|closed)$")] = None,
             limit: Annotated[int, Parameter(ge=1, le=1000)] = 100) -> list[Encounter]:
        return [_enc(e) for e in ctx.reader.encounters(status=status, limit=limit)]

    @get("/{encounter_id:str}", summary="One encounter", sync_to_thread=True)
    def get_one(self, ctx: AppContext, encounter_id: EncounterId) -> Encounter:
        try:
            return _enc(ctx.reader.encounter(encounter_id))
        except NotFoundError as exc:
            raise NotFoundException(detail=str(exc)) from None

    @patch("/{encounter_id:str}", summary="Change fields; If-Match: the version you read (409 if stale)")
    async def update(self, ctx: AppContext, encounter_id: EncounterId, data: EncounterPatch,
                     request: Request[Any, Any, Any]) -> Encounter:
        changes = {k: v for k, v in (("incident_ref", data.incident_ref), ("status", data.status),
                                     ("spo2_scale", data.spo2_scale)) if v is not None}
        if_match = request.headers.get("if-match")
        version = None
        if if_match is not None:
            tag = if_match.strip().strip('W/').strip('"')
            if not tag.isdigit() or len(tag) > 12:
                raise ClientException(detail="If-Match: expected the encounter's version number", status_code=400)
            version = int(tag)
        try:
            await ctx.write(records.update_encounter(encounter_id, changes, now_ms(), actor_of(request),
                                                           version))
        except NotFoundError as exc:
            raise NotFoundException(detail=str(exc)) from None
        except records.VersionConflict as exc:
            raise ClientException(detail=str(exc), status_code=409,
                                  extra={"current": ctx.reader.encounter(encounter_id)}) from None
        enc = ctx.reader.encounter(encounter_id)
        ctx.hub.publish("encounter", enc)
        return _enc(enc)

    @get("/{encounter_id:str}/news2", summary="NEWS2 from the latest value of each parameter", sync_to_thread=True)
    def news2(self, ctx: AppContext, encounter_id: EncounterId) -> News2:
        try:
            enc = ctx.reader.encounter(encounter_id)
        except NotFoundError as exc:
            raise NotFoundException(detail=str(exc)) from None
        return news2_of(ctx.reader.latest_values(encounter_id), enc["spo2_scale"])

    @post("/{encounter_id:str}/observations", status_code=201, summary="Enter an observation by hand")
    async def add_observation(self, ctx: AppContext, encounter_id: EncounterId, data: ObservationCreate,
                              request: Request[Any, Any, Any]) -> Observation:
        metric, value, unit = manual_value(data)
        now = now_ms()
        at = manual_time(data, now)
        actor = actor_of(request)
        new = records.NewObservation(metric=str(metric), value=value, unit=unit, received_at=at, source="manual",
                                     entered_by=actor)
        try:
            oid = await ctx.write(records.insert_manual_observation(encounter_id, new, actor))
        except NotFoundError as exc:
            raise NotFoundException(detail=str(exc)) from None
        obs = ctx.reader.observation(oid)
        ctx.hub.publish("observation", obs)
        return Observation(**obs)

    @get("/{encounter_id:str}/observations", summary="Observations of an encounter, in order", sync_to_thread=True)
    def observations(self, ctx: AppContext, encounter_id: EncounterId,
                     metric: Annotated[str | None, Parameter(max_length=32)] = None,
                     after: Annotated[int, Parameter(ge=0, le=2**62, description="only ids above this")] = 0,
                     limit: Annotated[int, Parameter(ge=1, le=10000)] = 1000) -> list[Observation]:
        try:
            ctx.reader.encounter(encounter_id)
        except NotFoundError as exc:
            raise NotFoundException(detail=str(exc)) from None
        rows = ctx.reader.observations(encounter_id=encounter_id, metric=metric, after=after, limit=limit)
        return [Observation(**r) for r in rows]


class ObservationController(Controller):
    path = "/api/v1/observations"
    tags = ["observations"]

    @get("/", summary="All observations in sequence order; unassigned=true for those with no encounter",
         sync_to_thread=True)
    def list(self, ctx: AppContext, unassigned: bool = False,
             device: Annotated[str | None, Parameter(max_length=32)] = None,
             metric: Annotated[str | None, Parameter(max_length=32)] = None,
             after: Annotated[int, Parameter(ge=0, le=2**62)] = 0,
             limit: Annotated[int, Parameter(ge=1, le=10000)] = 1000) -> list[Observation]:
        rows = ctx.reader.observations(unassigned=unassigned, device=device, metric=metric, after=after, limit=limit)
        return [Observation(**r) for r in rows]

