"""Health, status, devices and the live stream."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from edge_app.api.common import actor_of
from edge_app.api.guards import CREW, EVERYONE, PUBLIC, admits
from edge_app.model.devices import Device
from edge_app.model.events import kind_of
from edge_app.model.system import Health, Status
from edge_app.services.devices import DeviceBoard
from edge_app.services.status import StatusService
from edge_app.services.stream import StreamService

_ENCODE = msgspec.json.Encoder()


@get("/healthz", summary="Liveness: ok once the store is open", tags=["system"], opt=admits(PUBLIC))
async def healthz() -> Health:
    return Health(status="ok")


class SystemController(Controller):
    path = "/api/v1"
    tags = ["system"]
    opt = admits(CREW)

    @get("/devices", summary="Configured monitors: state, counters, latest values")
    async def devices(self, devices: DeviceBoard) -> list[Device]:
        return devices.snapshot()

    @get("/status", summary="Daemon, devices, store in one document", sync_to_thread=True, opt=admits(EVERYONE))
    def status(self, system: StatusService) -> Status:
        return system.status()

    @get("/stream", summary="Server-sent events: reading, device, encounter, observation, news2, upstream (and "
                            "reset); each event's data carries its kind", media_type="text/event-stream")
    async def stream(self, live: StreamService, request: Request[Any, Any, Any],
                     last_event_id: Annotated[str | None, Parameter(header="Last-Event-ID", max_length=20)] = None
                     ) -> ServerSentEvent:
        digits = last_event_id is not None and last_event_id.isascii() and last_event_id.isdigit()
        after = int(last_event_id) if digits and last_event_id else None
        events = live.follow(after, actor_of(request))

        async def messages() -> AsyncIterator[ServerSentEventMessage]:
            async for eid, ev in events:
                yield ServerSentEventMessage(data=_ENCODE.encode(ev).decode(), event=kind_of(ev), id=eid)

        return ServerSentEvent(messages(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
