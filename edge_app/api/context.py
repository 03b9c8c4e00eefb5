"""What request handlers reach: the store, the live hub, the devices. One instance per daemon."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from edge_app.config import Config
from edge_app.daemon.hub import Hub
from edge_app.store.queries import Reader
from edge_app.store.writer import Writer

if TYPE_CHECKING:
    from collections.abc import Callable

    import sqlite_utils

    from edge_app.daemon.devices import DeviceSupervisor

T = TypeVar("T")


@dataclass
class AppContext:
    config: Config
    writer: Writer
    reader: Reader
    hub: Hub
    devices: dict[str, DeviceSupervisor] = field(default_factory=dict)
    started_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)

    async def write(self, op: Callable[[sqlite_utils.Database], T]) -> T:
        """Run a write op through the writer; returns once it is committed."""
        return await asyncio.wrap_future(self.writer.submit(op))

    def device_list(self) -> list[dict[str, Any]]:
        return [d.describe() for d in self.devices.values()]
