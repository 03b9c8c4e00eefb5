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
# An op submitted with submit_later waits at most this long for a commit to go in with.
LATER_S = 0.2
_STOP = object()
_WAKE = object()  # starts the writer's clock for ops submitted with submit_later


class Writer:
    """Group commit: the thread blocks for the first op, then takes everything else already queued and
    commits it all in one transaction. No op waits for a timer; under load batches grow by themselves.

    Each op runs in a savepoint, so one bad op fails alone; a failed COMMIT (disk full, I/O error)
    fails every op of the batch and nothing of it is reported as stored.

    An op nobody waits for (the audit row of a read) may be submitted with submit_later: it goes in with
    the next batch the writer commits anyway, and it makes a commit of its own only if nothing else comes
    within LATER_S. So a burst of reads costs one fsync, not one per group commit, and no future each.

    An op whose caller only needs to hear how it went (a device's readings) may be submitted with
    submit_then: the writer calls the caller's function after the commit, with no Future in between.
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
        self._later: list[tuple[Op, Any]] = []  # (op, _Unwatched)
        self._later_due = 0.0  # time.monotonic() by which the ops in _later are committed
        self._later_lock = threading.Lock()
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

    def submit_then(self, op: Op, on_done: Callable[[Any, Any, BaseException | None], None]) -> None:
        """Queue an op; on_done(op, result, None) is called after the transaction holding it has committed,
        or on_done(op, None, error) if it failed: on the writer thread (keep it short), or here at once if
        the store is closed. For callers that only count what was stored (a device's readings): a Future,
        with its lock and condition, costs more than the op's share of the merged insert."""
        done = _Callback(on_done, op)
        if self._closed:
            done.set_exception(StoreError("store is closed"))
            return
        self._queue.put((op, done))

    def submit_later(self, op: Op, what: str = "op") -> None:
        """Queue an op nobody waits for: it is committed with the next batch, at the latest LATER_S from
        now, and at close. If it cannot be stored, the writer logs "<what> not stored" with the reason
        (an ERROR): never dropped silently."""
        unwatched = _Unwatched(what)
        first = False
        with self._later_lock:  # checked under the lock close() sweeps with: an op is committed, or refused
            closed = self._closed
            if not closed:
                self._later.append((op, unwatched))
                first = len(self._later) == 1
                if first:
                    self._later_due = time.monotonic() + LATER_S
        if closed:
            unwatched.set_exception(StoreError("store is closed"))
            return
        if first:
            self._queue.put(_WAKE)  # the writer may be waiting for work with no deadline

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
        with self._later_lock:  # submitted with submit_later as the writer stopped: say so, never drop
            left, self._later = self._later, []
        for _op, unwatched in left:
            unwatched.set_exception(StoreError("store is closed"))
        if not self._thread.is_alive():
            try:
                # Fold the WAL into the main file so a copied edge.db alone is complete (a box swap).
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                _LOGGER.warning("checkpoint at close failed: %s", exc)
            self.db.close()
            self._lock.close()

    def _take_batch(self) -> tuple[list[tuple[Op, Future[Any]]], bool]:
        batch: list[tuple[Op, Future[Any]]] = []
        stop = False
        while True:  # the first op, or the deadline of the ops submitted with submit_later
            with self._later_lock:
                timeout = max(0.0, self._later_due - time.monotonic()) if self._later else None
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                break
            if first is _STOP:
                stop = True
            elif first is not _WAKE:
                batch.append(first)
            if first is not _WAKE:
                break
        while not stop and len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
            elif item is not _WAKE:
                batch.append(item)
        with self._later_lock:
            later, self._later = self._later, []
        # Submitted before the ops taken now, or about the same time: first, so the log keeps their order.
        return later + batch, stop

    def _run(self) -> None:
        while True:
            batch, stop = self._take_batch()
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[Op, Future[Any]]]) -> None:
        conn = self.db.conn
        applied: list[tuple[list[tuple[Op, Future[Any]]], list[Any]]] = []  # each run, with its ops' outcomes
        live = [item for item in batch if item[1].set_running_or_notify_cancel()]
        try:
            conn.execute("BEGIN IMMEDIATE")
            for run in _runs(live):
                applied.append((run, self._apply(run)))
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
        for run, outcomes in applied:
            for (_op, fut), outcome in zip(run, outcomes, strict=True):
                if type(outcome) is _Failed:
                    fut.set_exception(outcome.exc)
                else:
                    fut.set_result(outcome)

    def _apply(self, run: list[tuple[Op, Future[Any]]]) -> list[Any]:
        """Apply a run of ops in one savepoint (merged if they can be), else one savepoint each; one
        outcome per op: its result, or _Failed."""
        first = run[0][0]
        if len(run) > 1 and isinstance(first, MergeableOp):
            def merged() -> list[Any]:
                values = type(first).apply_many(self.db, [op for op, _ in run])
                if len(values) != len(run):
                    raise RuntimeError(f"{type(first).__name__}: {len(values)} results for {len(run)} ops")
                return values

            try:
                return self._in_savepoint(merged)
            except Exception as exc:
                if isinstance(exc, sqlite3.Error) and not self.db.conn.in_transaction:
                    raise
                _LOGGER.debug("merged run of %d failed (%s); applying one by one", len(run), exc)
        out: list[Any] = []
        for op, _fut in run:
            try:
                out.append(self._in_savepoint(lambda: op(self.db)))  # noqa: B023 (called at once)
            except Exception as exc:  # one bad op must not sink the batch
                if isinstance(exc, sqlite3.Error) and not self.db.conn.in_transaction:
                    raise  # SQLite rolled the whole transaction back (disk full, I/O error): the batch failed
                out.append(_Failed(exc))
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


class _Failed:
    """An op's outcome when it raised: kept apart from a result until the batch has committed."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _NotAFuture:
    """What the writer needs of a Future (it cannot be cancelled and is never done before the commit),
    without a Future's lock and condition: for ops whose outcome nobody waits on."""

    __slots__ = ()

    def set_running_or_notify_cancel(self) -> bool:
        return True

    def done(self) -> bool:
        return False


class _Unwatched(_NotAFuture):
    """Where a future would be for an op submitted with submit_later: nobody waits for it, so a failure
    is logged here and success needs nothing (a Future, with its lock, costs more than the op)."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def set_result(self, _value: Any) -> None:
        pass

    def set_exception(self, exc: BaseException) -> None:
        _LOGGER.error("%s not stored: %s", self.what, exc)


class _Callback(_NotAFuture):
    """Where a future would be for an op submitted with submit_then: the outcome goes straight to the
    caller's function, which must not take the writer down with it."""

    __slots__ = ("fn", "op")

    def __init__(self, fn: Callable[[Any, Any, BaseException | None], None], op: Op) -> None:
        self.fn = fn
        self.op = op

    def set_result(self, value: Any) -> None:
        try:
            self.fn(self.op, value, None)
        except Exception:
            _LOGGER.exception("store callback %r failed", self.fn)

    def set_exception(self, exc: BaseException) -> None:
        try:
            self.fn(self.op, None, exc)
        except Exception:
            _LOGGER.exception("store callback %r failed", self.fn)


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
    merging: type | None = None  # the type of the run being built, if its ops can be merged
    for item in batch:
        kind = type(item[0])
        if kind is merging:
            runs[-1].append(item)
        else:
            runs.append([item])
            merging = kind if issubclass(kind, MergeableOp) else None
    return runs
