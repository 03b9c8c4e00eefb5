"""Handover documents: ATMIST and the written summary as text, and the record as a FHIR R4 Bundle."""
from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get
from litestar.params import Parameter

from edge_app.api.common import EncounterId, actor_of
from edge_app.api.guards import CREW, admits
from edge_app.services.handover import HandoverFormat, HandoverService


class HandoverController(Controller):
    path = "/api/v1/encounters/{encounter_id:str}"
    tags = ["handover"]
    opt = admits(CREW)

    @get("/fhir", summary="The record as a FHIR R4 transaction Bundle (PUT by client-assigned UUIDs)",
         sync_to_thread=True, media_type="application/fhir+json")
    def fhir(self, handover: HandoverService, encounter_id: EncounterId, request: Request[Any, Any, Any]
             ) -> Response[dict[str, Any]]:
        return Response(handover.fhir(encounter_id, actor_of(request)), media_type="application/fhir+json")

    @get("/handover", summary="Handover as text: ATMIST to read aloud, or the full written summary",
         sync_to_thread=True, media_type=MediaType.TEXT)
    def handover(self, handover: HandoverService, encounter_id: EncounterId, request: Request[Any, Any, Any],
                 format: Annotated[HandoverFormat, Parameter(query="format")] = "atmist") -> str:
        return handover.text(encounter_id, format, actor_of(request))
