"""Observations: manual entry on an encounter, listings, and NEWS2 from the current values."""
from __future__ import annotations

import builtins
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.params import Parameter

from edge_app.api.common import EncounterId, actor_of
from edge_app.api.guards import CREW, admits
from edge_app.model.news2 import News2
from edge_app.model.observation import GcsResult, Observation
from edge_app.model.requests import GcsCreate, MetricName, ObservationCreate
from edge_app.model.vitals import ChartSet, Vitals
from edge_app.services.observations import ObservationService
from edge_app.services.vitals import VitalsService

After = Annotated[int, Parameter(ge=0, le=2**53, description="only ids above this")]
Limit = Annotated[int, Parameter(ge=1, le=10000)]
Resolution = Literal["charted", "raw"]


class EncounterObservationController(Controller):
    path = "/api/v1/encounters/{encounter_id:str}"
    tags = ["observations"]
    opt = admits(CREW)

    @post("/observations", status_code=201, summary="Enter an observation by hand")
    async def add_observation(self, observations: ObservationService, encounter_id: EncounterId,
                              data: ObservationCreate, request: Request[Any, Any, Any]) -> Observation:
        return await observations.add(encounter_id, data, actor_of(request))

    @post("/gcs", status_code=201, summary="Record a Glasgow Coma Scale: eye, verbal, motor (each a score or \"NT\")")
    async def add_gcs(self, observations: ObservationService, encounter_id: EncounterId, data: GcsCreate,
                      request: Request[Any, Any, Any]) -> GcsResult:
        return await observations.add_gcs(encounter_id, data, actor_of(request))

    @get("/observations", summary="Observations of an encounter, in order: the charted record (every entry, "
         "device values charted at an interval), or resolution=raw for every reading as it came",
         sync_to_thread=True, opt=admits(CREW))
    def observations(self, observations: ObservationService, encounter_id: EncounterId,
                     request: Request[Any, Any, Any], metric: MetricName | None = None, after: After = 0,
                     limit: Limit = 1000, resolution: Resolution = "charted") -> list[Observation]:
        return observations.of_encounter(encounter_id, metric, after, limit, actor_of(request),
                                         charted=resolution == "charted")

    @post("/chart", status_code=201, summary="Chart the devices' current values into the record now (they are "
          "charted at [clinical] chart_interval_s anyway); 409 when no device has a current value")
    async def chart(self, observations: ObservationService, encounter_id: EncounterId,
                    request: Request[Any, Any, Any]) -> ChartSet:
        return await observations.chart(encounter_id, actor_of(request))

    @get("/vitals", summary="The current value of each vital sign by the one rule (docs/vitals.md): manual "
         "entries outrank devices for a while, unreliable readings never count, stale values are marked",
         sync_to_thread=True, opt=admits(CREW))
    def vitals(self, vitals: VitalsService, encounter_id: EncounterId, request: Request[Any, Any, Any]) -> Vitals:
        return vitals.read_vitals(encounter_id, actor_of(request))

    @get("/news2", summary="NEWS2 from the current value of each parameter", sync_to_thread=True,
         opt=admits(CREW))
    def news2(self, vitals: VitalsService, encounter_id: EncounterId, request: Request[Any, Any, Any]) -> News2:
        return vitals.read_news2(encounter_id, actor_of(request))


class ObservationController(Controller):
    path = "/api/v1/observations"
    tags = ["observations"]
    opt = admits(CREW)

    @get("/", summary="All observations in sequence order; unassigned=true for those with no encounter",
         sync_to_thread=True)
    def list(self, observations: ObservationService, request: Request[Any, Any, Any], unassigned: bool = False,
             device: Annotated[str | None, Parameter(max_length=32)] = None, metric: MetricName | None = None,
             after: After = 0, limit: Limit = 1000) -> builtins.list[Observation]:
        return observations.all(unassigned, device, metric, after, limit, actor_of(request))
