"""Health, status, devices and the live stream."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from edge_app import __version__
from edge_app.api.context import AppContext
from edge_app.daemon.summary import summary_line, upstream_line
from edge_app.api.schemas import Device, Health, Status


@get("/healthz", summary="Liveness: ok once the store is open", tags=["system"])
async def healthz() -> Health:
    return Health(status="ok")


class SystemController(Controller):
    path = "/api/v1"
    tags = ["system"]

    @get("/devices", summary="Configured monitors: state, counters, latest values")
    async def devices(self, ctx: AppContext) -> list[Device]:
        return [msgspec.convert(d, Device) for d in ctx.device_list()]

    @get("/status", summary="Daemon, devices, store in one document", sync_to_thread=True)
    def status(self, ctx: AppContext) -> Status:
        counts = ctx.reader.counts()
        w = ctx.writer
        store = {"path": str(ctx.config.db_path), "batches": w.batches, "ops": w.ops, "last_error": w.last_error}
        return Status(version=__version__, started_at=ctx.started_ms, devices=ctx.device_list(), store=store,
                      counts=counts, active_encounter=ctx.reader.active_encounter_id(),
                      upstream=upstream_line(ctx),
                      summary=summary_line(ctx, counts))

    @get("/stream", summary="Server-sent events: reading, device, encounter, observation (and reset)",
         media_type="text/event-stream")
    async def stream(self, ctx: AppContext, request: Request[Any, Any, Any],
                     last_event_id: Annotated[str | None, Parameter(header="Last-Event-ID", max_length=20)] = None
                     ) -> ServerSentEvent:
        from edge_app.api.common import actor_of

        ctx.audit(actor_of(request), "stream.open", None)
        after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
        reset = after is not None and not ctx.hub.replayable(after)
        if reset:
            after = None

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            if reset:
                # The gap cannot be replayed (daemon restarted, or too long away): reload from the query API.
                yield ServerSentEventMessage(data=json.dumps({"reason": "events since Last-Event-ID are not retained; "
                                                                        "reload state from the API"}), event="reset")
            # A snapshot of every device first, so a new client draws the screen without waiting.
            for d in ctx.device_list():
                yield ServerSentEventMessage(data=json.dumps(d), event="device")
            async for ev in ctx.hub.subscribe(after=after):
                yield ServerSentEventMessage(data=json.dumps(ev.data), event=ev.kind, id=ev.id)

        return ServerSentEvent(events(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
