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

    def device_list(self) -> list[dict[str, Any]]:
        return [d.describe() for d in self.devices.values()]
