"""The one writer: a thread that owns the write connection and commits whatever is queued together."""
from __future__ import annotations

import abc
import fcntl
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any, TypeVar

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
        self._lock = _lock_database(path)
        try:
            self.db = open_db(path)
            migrate(self.db)
        except BaseException:
            self._lock.close()
            raise
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
            try:
                # Fold the WAL into the main file so a copied edge.db alone is complete (a box swap).
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                _LOGGER.warning("checkpoint at close failed: %s", exc)
            self.db.close()
            self._lock.close()

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
        live = [(op, fut) for op, fut in batch if fut.set_running_or_notify_cancel()]
        try:
            conn.execute("BEGIN IMMEDIATE")
            for run in _runs(live):
                results.extend(self._apply(run))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.last_error = f"commit failed: {exc}"
            _LOGGER.error("store commit of %d ops failed: %s", len(batch), exc)
            err = StoreError(f"not stored: {exc}")
            for _op, fut in live:
                if not fut.done():
                    fut.set_exception(err)
            return
        self.last_error = None
        self.batches += 1
        self.ops += len(live)
        self.last_commit_monotonic = time.monotonic()
        for fut, ok, value in results:
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def _apply(self, run: list[tuple[Op, Future[Any]]]) -> list[tuple[Future[Any], bool, Any]]:
        """Apply a run of ops in one savepoint (merged if they can be), else one savepoint each."""
        first = run[0][0]
        if len(run) > 1 and isinstance(first, MergeableOp):
            try:
                values = self._in_savepoint(lambda: type(first).apply_many(self.db, [op for op, _ in run]))
                return [(fut, True, v) for (_op, fut), v in zip(run, values, strict=True)]
            except sqlite3.Error as exc:
                if not self.db.conn.in_transaction:
                    raise
                _LOGGER.debug("merged run of %d failed (%s); applying one by one", len(run), exc)
        out: list[tuple[Future[Any], bool, Any]] = []
        for op, fut in run:
            try:
                out.append((fut, True, self._in_savepoint(lambda: op(self.db))))  # noqa: B023 (called at once)
            except Exception as exc:  # one bad op must not sink the batch
                if isinstance(exc, sqlite3.Error) and not self.db.conn.in_transaction:
                    raise  # SQLite rolled the whole transaction back (disk full, I/O error): the batch failed
                out.append((fut, False, exc))
        return out

    def _in_savepoint(self, fn: Callable[[], T]) -> T:
        conn = self.db.conn
        conn.execute("SAVEPOINT op")
        try:
            value = fn()
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
            raise
        conn.execute("RELEASE op")
        return value


def _lock_database(path: Path) -> IO[bytes]:
    """One writer per database, across processes: a second daemon on the same file stops here."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(lock_path, "ab")  # noqa: SIM115 (held open for the writer's life)
    except OSError as exc:
        raise StoreError(f"{lock_path}: cannot create lock file: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise StoreError(f"{path}: another edge-app daemon is using this database") from None
    return fh


class MergeableOp(abc.ABC):
    """An op whose consecutive instances the writer may apply together (e.g. one executemany)."""

    def __call__(self, db: sqlite_utils.Database) -> Any:
        return type(self).apply_many(db, [self])[0]

    @classmethod
    @abc.abstractmethod
    def apply_many(cls, db: sqlite_utils.Database, ops: list[Any]) -> list[Any]:
        """Apply every op; one result per op, in order."""


def _runs(batch: list[tuple[Op, Future[Any]]]) -> list[list[tuple[Op, Future[Any]]]]:
    """Split the batch into runs of consecutive mergeable ops of one type; other ops stand alone."""
    runs: list[list[tuple[Op, Future[Any]]]] = []
    for item in batch:
        op = item[0]
        if runs and isinstance(op, MergeableOp) and type(runs[-1][0][0]) is type(op):
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs
