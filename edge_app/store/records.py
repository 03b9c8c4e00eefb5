"""Write operations, each a function of the write connection, run by the Writer inside its transaction."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from edge_app.errors import NotFoundError
from edge_app.store.writer import MergeableOp

ENCOUNTER_STATUSES = ("open", "handed_over", "closed")
GENESIS_HASH = "0" * 64
# What json.dumps(x, separators=(",", ":")) (and with sort_keys) makes, without a new encoder each call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))
_DETAIL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class NewObservation:
    """An observation about to be stored; value already in the metric's canonical unit."""

    metric: str
    value: float | str | bool
    unit: str
    received_at: int
    source: str
    device: str | None = None
    device_time: int | None = None
    flags: tuple[str, ...] = ()
    entered_by: str | None = None


def _active_encounter(db: sqlite_utils.Database) -> str | None:
    row = db.execute("SELECT id FROM encounters WHERE status = 'open' "
                     "ORDER BY rowid DESC LIMIT 1").fetchone()
    return row[0] if row else None


_INSERT_OBS = ("INSERT INTO observations (encounter_id, metric, value, unit, device_time, received_at, source, device,"
               " flags, entered_by) VALUES (?,?,?,?,?,?,?,?,?,?)")
# The same, for readings with no open encounter to attach to. Python's sqlite3 binds None through its
# adapter lookup (several times the cost of binding a string), so a NULL the whole run shares is written in.
_INSERT_UNASSIGNED_OBS = ("INSERT INTO observations (encounter_id, metric, value, unit, device_time, received_at,"
                          " source, device, flags, entered_by) VALUES (NULL,?,?,?,?,?,?,?,?,?)")


class insert_device_observations(MergeableOp):  # noqa: N801 (reads like the other op builders)
    """Device readings attach to the active encounter at commit time, or stay unassigned (never dropped).

    The writer merges consecutive ones into one executemany: under load that is most of what it does.
    Each op's result is the ids of its rows, in order (a range: they are consecutive).
    """

    __slots__ = ("obs",)

    def __init__(self, obs: Sequence[NewObservation]) -> None:
        self.obs = obs

    @classmethod
    def apply_many(cls, db: sqlite_utils.Database, ops: list[Any]) -> list[range]:
        encounter = _active_encounter(db)
        # Generators, not lists: each row's tuple is freed once bound, so a burst of thousands of readings
        # leaves the garbage collector nothing to scan.
        if encounter is None:
            rows: Iterator[tuple[Any, ...]] = (
                (o.metric, o.value, o.unit, o.device_time, o.received_at, o.source, o.device,
                 json.dumps(list(o.flags)) if o.flags else None, o.entered_by) for op in ops for o in op.obs)
            stored = db.conn.executemany(_INSERT_UNASSIGNED_OBS, rows).rowcount
        else:
            rows = ((encounter, o.metric, o.value, o.unit, o.device_time, o.received_at, o.source, o.device,
                     json.dumps(list(o.flags)) if o.flags else None, o.entered_by) for op in ops for o in op.obs)
            stored = db.conn.executemany(_INSERT_OBS, rows).rowcount
        # AUTOINCREMENT and the single writer inside its transaction: the new ids are consecutive and end at seq.
        first = 0
        if stored:
            last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'observations'").fetchone()[0]
            first = last - stored + 1
        ids = []
        for op in ops:
            ids.append(range(first, first + len(op.obs)))
            first += len(op.obs)
        return ids


def insert_manual_observations(encounter_id: str, obs: Sequence[NewObservation], actor: str
                               ) -> Callable[[sqlite_utils.Database], list[int]]:
    """A clinician's entries on a named encounter (e.g. the three GCS components), audited in the same transaction."""

    def op(db: sqlite_utils.Database) -> list[int]:
        row = db.execute("SELECT status FROM encounters WHERE id = ?", (encounter_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"encounter {encounter_id} not found")
        if row[0] == "closed":
            from edge_app.store.encounters import RecordClosed

            raise RecordClosed("encounter is closed; a closed record is final")
        ids = []
        for o in obs:
            cur = db.execute(_INSERT_OBS, (encounter_id, o.metric, o.value, o.unit, o.device_time, o.received_at,
                                           "manual", None, None, o.entered_by))
            ids.append(int(cur.lastrowid or 0))
        at = obs[0].received_at if obs else 0
        append_audit(db, at, actor, "observation.create", encounter_id,
                     {"observations": ids, "metrics": [o.metric for o in obs]})
        return ids

    return op


def upsert_device(name: str, protocol: str, port: str | None, address: str | None,
                  now_ms: int) -> Callable[[sqlite_utils.Database], None]:
    """Record a configured device (first seen kept, config fields refreshed)."""

    def op(db: sqlite_utils.Database) -> None:
        db.execute("INSERT INTO devices (name, protocol, port, address, first_seen, last_seen) VALUES (?,?,?,?,?,?)"
                   " ON CONFLICT(name) DO UPDATE SET protocol=excluded.protocol, port=excluded.port,"
                   " address=excluded.address, last_seen=excluded.last_seen",
                   (name, protocol, port, address, now_ms, now_ms))

    return op


def set_device_info(name: str, info: dict[str, Any], now_ms: int) -> Callable[[sqlite_utils.Database], None]:
    """Maker, model, serial, firmware as the device reported them (BLE Device Information)."""

    def op(db: sqlite_utils.Database) -> None:
        db.execute("UPDATE devices SET info = ?, last_seen = ? WHERE name = ?",
                   (json.dumps(info, sort_keys=True), now_ms, name))

    return op


def append_audit(db: sqlite_utils.Database, at: int, actor: str, action: str, obj: str | None,
                 detail: dict[str, Any] | None) -> None:
    """Append one hash-chained audit row (call only inside a writer op)."""
    row = db.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    prev = row[0] if row else GENESIS_HASH
    detail_s = _DETAIL.encode(detail) if detail is not None else None
    digest = audit_hash(prev, at, actor, action, obj, detail_s)
    cur = db.execute("INSERT INTO audit_log (at, actor, action, object, detail, prev_hash, hash) "
                     "VALUES (?,?,?,?,?,?,?)", (at, actor, action, obj, detail_s, prev, digest))
    # The head is kept apart so that deleting the newest rows (which no later link covers) shows too.
    db.execute("INSERT INTO audit_head (one, last_id, hash) VALUES (1, ?, ?) "
               "ON CONFLICT(one) DO UPDATE SET last_id = excluded.last_id, hash = excluded.hash",
               (cur.lastrowid, digest))


def audit_hash(prev: str, at: int, actor: str, action: str, obj: str | None, detail: str | None) -> str:
    """The chain link: sha256 over the previous hash and this row's fields."""
    payload = _COMPACT.encode([prev, at, actor, action, obj, detail])
    return hashlib.sha256(payload.encode()).hexdigest()


_INSERT_AUDIT = "INSERT INTO audit_log (at, actor, action, object, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?)"


class audit_op(MergeableOp):  # noqa: N801 (reads like the other op builders)
    """An audit row on its own (e.g. a read of patient data). The writer merges consecutive ones: under a
    burst of reads the rows go in with one lookup of the chain's head, one executemany and one head update
    (the same chain, row for row, as append_audit one at a time)."""

    __slots__ = ("row",)

    def __init__(self, at: int, actor: str, action: str, obj: str | None,
                 detail: dict[str, Any] | None = None) -> None:
        self.row = (at, actor, action, obj, detail)

    @classmethod
    def apply_many(cls, db: sqlite_utils.Database, ops: list[Any]) -> list[None]:
        head = db.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        prev = head[0] if head else GENESIS_HASH
        rows = []
        for op in ops:
            at, actor, action, obj, detail = op.row
            detail_s = _DETAIL.encode(detail) if detail is not None else None
            digest = audit_hash(prev, at, actor, action, obj, detail_s)
            rows.append((at, actor, action, obj, detail_s, prev, digest))
            prev = digest
        db.conn.executemany(_INSERT_AUDIT, rows)
        last_id = db.execute("SELECT last_insert_rowid()").fetchone()[0]
        db.execute("INSERT INTO audit_head (one, last_id, hash) VALUES (1, ?, ?) "
                   "ON CONFLICT(one) DO UPDATE SET last_id = excluded.last_id, hash = excluded.hash", (last_id, prev))
        return [None] * len(ops)
