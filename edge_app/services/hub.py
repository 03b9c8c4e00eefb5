"""Live events (readings as decoded, device state, encounter changes) fanned out to stream clients."""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from edge_app.model.events import StreamEvent

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """An event as published: its place in the stream (id, for Last-Event-ID) and what happened."""

    id: int
    event: StreamEvent


class Hub:
    """Publish is synchronous and never blocks: a subscriber that falls too far behind is cut off
    (it reconnects and re-reads from the query API) rather than slowing the drivers."""

    def __init__(self, *, queue_size: int = 2000, retain: int = 2000) -> None:
        self._subs: set[asyncio.Queue[Event | None]] = set()
        self._queue_size = queue_size
        self.recent: deque[Event] = deque(maxlen=retain)
        self._seq = 0
        self._closed = False

    def publish(self, what: StreamEvent) -> Event:
        self._seq += 1
        event = Event(self._seq, what)
        self.recent.append(event)
        for q in list(self._subs):
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                _LOGGER.warning("stream client too slow; disconnecting it")
                self._subs.discard(q)
                q.get_nowait()
                q.put_nowait(None)
        return event

    def replayable(self, after: int) -> bool:
        """Whether every event after `after` is still retained (else the client must reload, not replay)."""
        if after > self._seq:
            return False  # an id from before a daemon restart
        oldest = self.recent[0].id if self.recent else self._seq + 1
        return after >= oldest - 1

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    async def subscribe(self, *, after: int | None = None) -> AsyncIterator[Event]:
        """Events from now on (or from after id `after`, if still retained) until the hub closes."""
        q: asyncio.Queue[Event | None] = asyncio.Queue(self._queue_size)
        if self._closed:
            return
        self._subs.add(q)
        try:
            if after is not None:
                for old in list(self.recent):
                    if old.id > after:
                        yield old
            while True:
                event = await q.get()
                if event is None:
                    return
                if after is not None and event.id <= after:
                    continue
                yield event
        finally:
            self._subs.discard(q)

    def close(self) -> None:
        """End every subscription (shutdown)."""
        self._closed = True
        for q in list(self._subs):
            try:
                q.put_nowait(None)
            except asyncio.QueueFull:
                q.get_nowait()
                q.put_nowait(None)
        self._subs.clear()
