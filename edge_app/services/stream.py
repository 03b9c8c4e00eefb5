"""The live stream a client follows: device snapshots first, then every event, resumable by Last-Event-ID."""
from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from edge_app.model.events import DeviceChanged, StreamEvent, StreamReset
from edge_app.services.devices import DeviceBoard
from edge_app.services.hub import Hub
from edge_app.store.access import Store

RESET_REASON = "events since Last-Event-ID are not retained; reload state from the API"


class StreamService:
    def __init__(self, store: Store, hub: Hub, devices: DeviceBoard) -> None:
        self.store = store
        self.hub = hub
        self.devices = devices

    def follow(self, last_event_id: int | None, actor: str) -> AsyncIterator[tuple[int | None, StreamEvent]]:
        """(id, event) pairs until the daemon stops; ids only on events that can be replayed."""
        self.store.audit(actor, "stream.open", None)
        reset = last_event_id is not None and not self.hub.replayable(last_event_id)
        return self._events(None if reset else last_event_id, reset)

    async def _events(self, after: int | None, reset: bool) -> AsyncIterator[tuple[int | None, StreamEvent]]:
        if reset:
            # The gap cannot be replayed (daemon restarted, or too long away): reload from the query API.
            yield None, StreamReset(reason=RESET_REASON)
        # A snapshot of every device first, so a new client draws the screen without waiting.
        for d in self.devices.snapshot():
            yield None, DeviceChanged(**msgspec.structs.asdict(d))
        async for ev in self.hub.subscribe(after=after):
            yield ev.id, ev.event
