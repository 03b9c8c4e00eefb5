"""Forwarding: the gate (status, suspend, resume), the outbox the uplink drains, dead letters.

The uplink process is a client of these routes with the uplink scope: it can read the outbox, fetch a
payload while the gate is open, confirm, report a failure or a refusal, and suspend (when the target's
identity is wrong) or pass on the fleet's signed suspend order, but never resume. Crews see the status
line; technicians may do everything.
"""
from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter

from edge_app.api.common import actor_of, is_uplink
from edge_app.api.guards import EVERYONE, TECHNICIAN, UPLINK, admits
from edge_app.model.requests import FailureReport, ResumeRequest, SignedOrder, SignRequest, SuspendRequest
from edge_app.model.system import Signed
from edge_app.model.upstream import AckResult, OrderResult, OutboxBatch, OutboxEntry, OutboxPayload, UpstreamStatus
from edge_app.services.upstream import UpstreamService

KEY_RE = r"^(enc-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-v[0-9]{1,9}|obs-[0-9]{1,18}-[0-9]{1,18})$"
OutboxKey = Annotated[str, Parameter(pattern=KEY_RE, max_length=60, description="an outbox entry's idempotency key")]


class UpstreamController(Controller):
    path = "/api/v1/upstream"
    tags = ["upstream"]
    opt = admits(TECHNICIAN)

    @get("", summary="The gate (may records leave now, and why not), the outbox, the last success and error",
         sync_to_thread=True, opt=admits(EVERYONE))
    def status(self, upstream: UpstreamService) -> UpstreamStatus:
        return upstream.status()

    @post("/suspend", status_code=200, summary="Stop forwarding now (technician, or the uplink itself)",
          opt=admits(UPLINK))
    async def suspend(self, upstream: UpstreamService, data: SuspendRequest, request: Request[Any, Any, Any]
                      ) -> UpstreamStatus:
        return await upstream.suspend(data.reason, actor_of(request))

    @post("/orders", status_code=200, summary="Apply the fleet's signed suspend order (technician, or the uplink "
                                              "passing one on): its authority is the signature", opt=admits(UPLINK))
    async def order(self, upstream: UpstreamService, data: SignedOrder, request: Request[Any, Any, Any]
                    ) -> OrderResult:
        return await upstream.apply_order(msgspec.to_builtins(data), actor_of(request))

    @post("/resume", status_code=200, summary="Forward again; with require_approval, give a signed approval")
    async def resume(self, upstream: UpstreamService, data: ResumeRequest, request: Request[Any, Any, Any]
                     ) -> UpstreamStatus:
        return await upstream.resume(data.reason, data.approval, actor_of(request))

    @get("/outbox", summary="Entries waiting to go (none for the uplink while the gate is closed); wait: "
                             "long-poll seconds", opt=admits(UPLINK))
    async def pending(self, upstream: UpstreamService, request: Request[Any, Any, Any],
                      limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
                      after: Annotated[int, Parameter(ge=0, le=2**53 - 1,
                                                      description="page: entries after this seq")] = 0,
                      wait: Annotated[float, Parameter(ge=0, le=60)] = 0) -> OutboxBatch:
        return await upstream.pending(limit, after, wait, uplink=is_uplink(request))

    @get("/outbox/{key:str}", summary="One entry's payload: a FHIR transaction Bundle", sync_to_thread=True,
         opt=admits(UPLINK))
    def payload(self, upstream: UpstreamService, key: OutboxKey, request: Request[Any, Any, Any]) -> OutboxPayload:
        return upstream.payload(key, actor_of(request), uplink=is_uplink(request))

    @post("/outbox/{key:str}/ack", status_code=200, summary="The target confirmed it: it leaves the outbox",
          opt=admits(UPLINK))
    async def ack(self, upstream: UpstreamService, key: OutboxKey, request: Request[Any, Any, Any]) -> AckResult:
        return await upstream.ack(key, actor_of(request))

    @post("/outbox/{key:str}/fail", status_code=204, summary="A try failed and will be retried (5xx, timeout)",
          opt=admits(UPLINK))
    async def fail(self, upstream: UpstreamService, key: OutboxKey, data: FailureReport) -> None:
        await upstream.fail(key, data.error, data.status)

    @post("/outbox/{key:str}/dead", status_code=200, summary="The target refused it (4xx): a dead letter",
          opt=admits(UPLINK))
    async def dead(self, upstream: UpstreamService, key: OutboxKey, data: FailureReport,
                   request: Request[Any, Any, Any]) -> OutboxEntry:
        return await upstream.dead(key, data.error, data.status, actor_of(request))

    @post("/sign", status_code=200, summary="Sign an offline bundle's manifest with the vehicle's key (technician)")
    async def sign(self, upstream: UpstreamService, data: SignRequest, request: Request[Any, Any, Any]) -> Signed:
        return await upstream.sign(data.records, actor_of(request))

    @get("/dead-letters", summary="Entries the target refused, with its reason", sync_to_thread=True)
    def dead_letters(self, upstream: UpstreamService) -> list[OutboxEntry]:
        return upstream.dead_letters()

    @post("/dead-letters/{key:str}/requeue", status_code=200, summary="Send a dead letter again (technician)")
    async def requeue(self, upstream: UpstreamService, key: OutboxKey, request: Request[Any, Any, Any]
                      ) -> OutboxEntry:
        return await upstream.requeue(key, actor_of(request))
