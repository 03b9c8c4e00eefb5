"""Observations: manual entry on an encounter, listings, and NEWS2 from the latest values."""
from __future__ import annotations

import builtins
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter

from edge_app.api.common import EncounterId, actor_of, now_ms, store_call, store_write
from edge_app.api.context import AppContext
from edge_app.api.schemas import (
    GcsCreate,
    GcsResult,
    MetricName,
    News2,
    News2Parameters,
    Observation,
    ObservationCreate,
)
from edge_app.api.validate import bad, manual_time, manual_value, parse_time
from edge_app.store import records


def age_years(patient: dict[str, Any], now: int) -> int | None:
    """Age from the date of birth, else the estimated age; None when unknown."""
    from datetime import UTC, date, datetime

    dob = patient.get("date_of_birth")
    if dob:
        born, today = date.fromisoformat(dob), datetime.fromtimestamp(now / 1000, UTC).date()
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return patient.get("estimated_age")


def news2_of(latest: dict[str, dict[str, Any]], scale: int, age: int | None = None) -> News2:
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
    if age is not None and age < 16:
        # RCP: NEWS2 is not validated under 16; a paediatric score (PEWS) applies. No number at all, so
        # nobody acts on one.
        return News2(total=None, risk=None, scale=r.scale, parameters=News2Parameters(**r.parameters),
                     missing=r.missing, red_score=False, inputs={},
                     response="not scored: NEWS2 is not for patients under 16; use a paediatric early warning score",
                     warning=f"patient is {age}: NEWS2 does not apply under 16")
    used = {k: latest[m] for k, m in (("resp_rate", "resp_rate"), ("spo2", "spo2"),
                                      ("oxygen_supplement", "oxygen_supplement"), ("bp_systolic", "bp_systolic"),
                                      ("pulse", pulse_metric), ("consciousness", "consciousness"),
                                      ("temperature", "temperature")) if m in latest}
    return News2(total=r.total, risk=r.risk, scale=r.scale, parameters=News2Parameters(**r.parameters),
                 missing=r.missing, red_score=r.red_score, response=r.response, warning=None,
                 inputs={k: {"metric": v["metric"], "value": v["value"], "time": v["received_at"],
                             "source": v["device"] or v["source"]} for k, v in used.items()})


class EncounterObservationController(Controller):
    path = "/api/v1/encounters/{encounter_id:str}"
    tags = ["observations"]

    @post("/observations", status_code=201, summary="Enter an observation by hand")
    async def add_observation(self, ctx: AppContext, encounter_id: EncounterId, data: ObservationCreate,
                              request: Request[Any, Any, Any]) -> Observation:
        metric, value, unit = manual_value(data)
        actor = actor_of(request)
        new = records.NewObservation(metric=str(metric), value=value, unit=unit, received_at=manual_time(data, now_ms()),
                                     source="manual", entered_by=actor)
        [oid] = await store_write(lambda: ctx.write(records.insert_manual_observations(encounter_id, [new], actor)))
        ctx.observations_stored()
        obs = await ctx.read(lambda: ctx.reader.observation(oid))
        ctx.hub.publish("observation", obs)
        await ctx.publish_news2(encounter_id)
        return msgspec.convert(obs, Observation)

    @post("/gcs", status_code=201, summary="Record a Glasgow Coma Scale: eye, verbal, motor (each a score or \"NT\")")
    async def add_gcs(self, ctx: AppContext, encounter_id: EncounterId, data: GcsCreate,
                      request: Request[Any, Any, Any]) -> GcsResult:
        from edge_app.clinical.gcs import Gcs, GcsError

        try:
            gcs = Gcs.of(data.eye, data.verbal, data.motor)
        except GcsError as exc:
            raise bad(str(exc)) from None
        at = parse_time(data.time, now_ms(), "time")
        actor = actor_of(request)
        values = [("gcs_eye", gcs.eye), ("gcs_verbal", gcs.verbal), ("gcs_motor", gcs.motor)]
        if gcs.total is not None:
            values.append(("gcs_total", gcs.total))
        new = [records.NewObservation(metric=m, value=v, unit="{score}", received_at=at, source="manual",
                                      entered_by=actor) for m, v in values]
        ids = await store_write(lambda: ctx.write(records.insert_manual_observations(encounter_id, new, actor)))
        ctx.observations_stored()
        rows = [await ctx.read(lambda i=i: ctx.reader.observation(i)) for i in ids]  # type: ignore[misc]
        for row in rows:
            ctx.hub.publish("observation", row)
        await ctx.publish_news2(encounter_id)
        return GcsResult(total=gcs.total, text=gcs.describe(),
                         observations=[msgspec.convert(r, Observation) for r in rows])

    @get("/observations", summary="Observations of an encounter, in order", sync_to_thread=True)
    def observations(self, ctx: AppContext, encounter_id: EncounterId, request: Request[Any, Any, Any],
                     metric: MetricName | None = None,
                     after: Annotated[int, Parameter(ge=0, le=2**53, description="only ids above this")] = 0,
                     limit: Annotated[int, Parameter(ge=1, le=10000)] = 1000) -> list[Observation]:
        store_call(lambda: ctx.reader.encounter(encounter_id))
        rows = ctx.reader.observations(encounter_id=encounter_id, metric=metric, after=after, limit=limit)
        ctx.audit(actor_of(request), "observation.list", encounter_id, {"count": len(rows)})
        return [msgspec.convert(r, Observation) for r in rows]

    @get("/news2", summary="NEWS2 from the latest value of each parameter", sync_to_thread=True)
    def news2(self, ctx: AppContext, encounter_id: EncounterId, request: Request[Any, Any, Any]) -> News2:
        enc = store_call(lambda: ctx.reader.encounter(encounter_id))
        ctx.audit(actor_of(request), "news2.read", encounter_id)
        return news2_of(ctx.reader.latest_values(encounter_id), enc["spo2_scale"], age_years(enc["patient"], now_ms()))


class ObservationController(Controller):
    path = "/api/v1/observations"
    tags = ["observations"]

    @get("/", summary="All observations in sequence order; unassigned=true for those with no encounter",
         sync_to_thread=True)
    def list(self, ctx: AppContext, request: Request[Any, Any, Any], unassigned: bool = False,
             device: Annotated[str | None, Parameter(max_length=32)] = None,
             metric: MetricName | None = None,
             after: Annotated[int, Parameter(ge=0, le=2**53)] = 0,
             limit: Annotated[int, Parameter(ge=1, le=10000)] = 1000) -> builtins.list[Observation]:
        rows = ctx.reader.observations(unassigned=unassigned, device=device, metric=metric, after=after, limit=limit)
        ctx.audit(actor_of(request), "observation.list", None, {"count": len(rows), "unassigned": unassigned})
        return [msgspec.convert(r, Observation) for r in rows]
