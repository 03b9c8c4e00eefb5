"""The one writer: a thread that owns the write connection and commits whatever is queued together."""
from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from edge_app.errors import StoreError
from edge_app.store.connection import open_db
from edge_app.store.migrations import migrate

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[[sqlite_utils.Database], Any]
MAX_BATCH = 10_000
_STOP = object()


class Writer:
    """Group commit: the thread blocks for the first op, then takes everything else already queued and
    commits it all in one transaction. No op waits for a timer; under load batches grow by themselves.

    Each op runs in a savepoint, so one bad op fails alone; a failed COMMIT (disk full, I/O error)
    fails every op of the batch and nothing of it is reported as stored.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = open_db(path)
        migrate(self.db)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self.batches = 0
        self.ops = 0
        self.last_commit_monotonic = time.monotonic()
        self.last_error: str | None = None
        self._closed = False
        self._thread.start()

    def submit(self, op: Callable[[sqlite_utils.Database], T]) -> Future[T]:
        """Queue an op; its future resolves after the transaction holding it has committed."""
        fut: Future[T] = Future()
        if self._closed:
            fut.set_exception(StoreError("store is closed"))
            return fut
        self._queue.put((op, fut))
        return fut

    def alive(self) -> bool:
        """The writer thread is running (the watchdog checks this)."""
        return self._thread.is_alive()

    def ping(self, timeout: float = 2.0) -> bool:
        """A no-op through the queue: true if the writer answers within timeout."""
        try:
            self.submit(lambda db: None).result(timeout)
            return True
        except Exception:
            return False

    def close(self, timeout: float = 5.0) -> None:
        """Commit what is queued, then stop the thread and close the connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.db.close()

    def _take_batch(self) -> tuple[list[tuple[Op, Future[Any]]], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        stop = False
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            batch.append(item)
        return batch, stop

    def _run(self) -> None:
        while True:
            batch, stop = self._take_batch()
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[Op, Future[Any]]]) -> None:
        conn = self.db.conn
        results: list[tuple[Future[Any], bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, fut in batch:
                if not fut.set_running_or_notify_cancel():
                    continue
                conn.execute("SAVEPOINT op")
                try:
                    results.append((fut, True, op(self.db)))
                    conn.execute("RELEASE op")
                except Exception as exc:  # one bad op must not sink the batch
                    if conn.in_transaction:
                        conn.execute("ROLLBACK TO op")
                        conn.execute("RELEASE op")
                    results.append((fut, False, exc))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.last_error = f"commit failed: {exc}"
            _LOGGER.error("store commit of %d ops failed: %s", len(batch), exc)
            err = StoreError(f"not stored: {exc}")
            for _op, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
            return
        self.last_error = None
        self.batches += 1
        self.ops += len(batch)
        self.last_commit_monotonic = time.monotonic()
        for fut, ok, value in results:
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
