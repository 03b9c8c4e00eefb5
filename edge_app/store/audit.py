"""The audit log: every read and write of patient data, hash-chained so that a changed, removed or
reordered row shows (the head is kept apart so that removing the newest rows shows too)."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlite_utils

from edge_app.store.writer import MergeableOp

GENESIS_HASH = "0" * 64
# What json.dumps(x, separators=(",", ":")) (and with sort_keys) makes, without a new encoder each call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))
_DETAIL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
_INSERT_AUDIT = "INSERT INTO audit_log (at, actor, action, object, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?)"
_SET_HEAD = ("INSERT INTO audit_head (one, last_id, hash) VALUES (1, ?, ?) "
             "ON CONFLICT(one) DO UPDATE SET last_id = excluded.last_id, hash = excluded.hash")


def audit_hash(prev: str, at: int, actor: str, action: str, obj: str | None, detail: str | None) -> str:
    """The chain link: sha256 over the previous hash and this row's fields."""
    payload = _COMPACT.encode([prev, at, actor, action, obj, detail])
    return hashlib.sha256(payload.encode()).hexdigest()


def _head(db: sqlite_utils.Database) -> str:
    row = db.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else GENESIS_HASH


def append_audit(db: sqlite_utils.Database, at: int, actor: str, action: str, obj: str | None,
                 detail: dict[str, Any] | None) -> None:
    """Append one hash-chained audit row (call only inside a writer op)."""
    prev = _head(db)
    detail_s = _DETAIL.encode(detail) if detail is not None else None
    digest = audit_hash(prev, at, actor, action, obj, detail_s)
    cur = db.execute(_INSERT_AUDIT, (at, actor, action, obj, detail_s, prev, digest))
    db.execute(_SET_HEAD, (cur.lastrowid, digest))


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
        prev = _head(db)
        rows = []
        for op in ops:
            at, actor, action, obj, detail = op.row
            detail_s = _DETAIL.encode(detail) if detail is not None else None
            digest = audit_hash(prev, at, actor, action, obj, detail_s)
            rows.append((at, actor, action, obj, detail_s, prev, digest))
            prev = digest
        db.conn.executemany(_INSERT_AUDIT, rows)
        last_id = db.execute("SELECT last_insert_rowid()").fetchone()[0]
        db.execute(_SET_HEAD, (last_id, prev))
        return [None] * len(ops)


def verify_audit_chain(db: sqlite_utils.Database) -> tuple[int, int | None]:
    """(rows checked, id of the first row changed, removed or reordered, or None when the chain is intact)."""
    prev = GENESIS_HASH
    n = 0
    last_id = 0
    for rid, at, actor, action, obj, detail, prev_hash, digest in db.execute(
            "SELECT id, at, actor, action, object, detail, prev_hash, hash FROM audit_log ORDER BY id"):
        n += 1
        if prev_hash != prev or audit_hash(prev, at, actor, action, obj, detail) != digest:
            return n, rid
        prev, last_id = digest, rid
    head = db.execute("SELECT last_id, hash FROM audit_head WHERE one = 1").fetchone() \
        if "audit_head" in db.table_names() else None
    if head is not None and (head[0], head[1]) != (last_id, prev):
        return n, head[0]  # the newest rows were removed (or the head was edited)
    return n, None
