"""What request handlers reach: the store, the live hub, the devices. One instance per daemon."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from edge_app.config import Config
from edge_app.daemon.hub import Hub
from edge_app.store.queries import Reader
from edge_app.store.writer import Writer

if TYPE_CHECKING:
    import sqlite_utils

    from edge_app.daemon.devices import DeviceSupervisor

T = TypeVar("T")
_LOGGER = logging.getLogger(__name__)


class AppContext:
    """A plain class on purpose: Litestar would try to parse a dataclass dependency as data."""

    def __init__(self, config: Config, writer: Writer, reader: Reader, hub: Hub) -> None:
        self.config = config
        self.writer = writer
        self.reader = reader
        self.hub = hub
        self.devices: dict[str, DeviceSupervisor] = {}
        self.started_ms = time.time_ns() // 1_000_000
        self._news2_last: dict[str, Any] = {}
        from edge_app.auth.tokens import TokenRegistry

        self.tokens = TokenRegistry()
        self.tablet_url: str | None = None  # https://HOST:PORT when the tablet listener is on
        self.tls_fingerprint: str | None = None

    async def write(self, op: Callable[[sqlite_utils.Database], T]) -> T:
        """Run a write op through the writer; returns once it is committed."""
        return await asyncio.wrap_future(self.writer.submit(op))

    async def read(self, fn: Callable[[], T]) -> T:
        """Run a query on a worker thread (its own read connection), off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    def audit(self, actor: str, action: str, obj: str | None, detail: dict[str, Any] | None = None) -> None:
        """Record a read of patient data; it goes in with the next commit and never delays the answer."""
        from edge_app.store.records import audit_op

        fut = self.writer.submit(audit_op(time.time_ns() // 1_000_000, actor, action, obj, detail))
        fut.add_done_callback(lambda f: f.exception() and _LOGGER.error("audit row not stored: %s", f.exception()))

    async def publish_news2(self, encounter_id: str | None = None) -> None:
        """Recompute NEWS2 (of the active encounter by default) and push it on the stream if it changed."""
        from edge_app.api.observations import age_years, news2_of

        def compute() -> tuple[str, dict[str, Any]] | None:
            eid = encounter_id or self.reader.active_encounter_id()
            if eid is None:
                return None
            enc = self.reader.encounter(eid)
            result = news2_of(self.reader.latest_values(eid), enc["spo2_scale"],
                              age_years(enc["patient"], time.time_ns() // 1_000_000))
            import msgspec

            return eid, msgspec.to_builtins(result)

        got = await self.read(compute)
        if got is None:
            return
        eid, doc = got
        key = {k: v for k, v in doc.items() if k != "inputs"}
        if self._news2_last.get(eid) != key:
            self._news2_last[eid] = key
            self.hub.publish("news2", {"encounter_id": eid, **doc})

    def device_list(self) -> list[dict[str, Any]]:
        return [d.describe() for d in self.devices.values()]
