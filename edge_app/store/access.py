"""The store as the services use it: writes through the one writer, reads on reader threads, audit rows."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import sqlite_utils

from edge_app.clock import now_ms
from edge_app.store.audit import audit_op
from edge_app.store.queries import Reader
from edge_app.store.writer import Writer

T = TypeVar("T")
_LOGGER = logging.getLogger(__name__)


class Store:
    """One per daemon: the writer thread and the per-thread read connections over one database."""

    def __init__(self, writer: Writer, reader: Reader) -> None:
        self.writer = writer
        self.reader = reader

    async def write(self, op: Callable[[sqlite_utils.Database], T]) -> T:
        """Run a write op through the writer; returns once it is committed."""
        return await asyncio.wrap_future(self.writer.submit(op))

    async def read(self, fn: Callable[[], T]) -> T:
        """Run a query on a worker thread (its own read connection), off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    def audit(self, actor: str, action: str, obj: str | None, detail: dict[str, Any] | None = None) -> None:
        """Record a read of patient data; it goes in with the next commit (at the latest Writer's LATER_S
        from now) and never delays the answer. One that cannot be stored is logged, never dropped silently."""
        self.writer.submit_later(audit_op(now_ms(), actor, action, obj, detail), "audit row")
