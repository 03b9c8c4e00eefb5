"""The upstream outbox and gate in SQLite: write ops (run by the Writer) and reads (on a Reader's connection).

Entries:
- "encounter": the whole record as a FHIR transaction Bundle, queued when an encounter is handed over or
  closed. A newer one for the same encounter replaces a pending older one: the payload is built from the
  record when it is sent, so the older entry would carry the same thing.
- "observations" (only with upstream.live_observations): a run of one encounter's observations, cut from
  the observation table behind a cursor when the uplink asks for work, so ingest never pays for it.
The key is the idempotency key; the FHIR ids inside the payload are deterministic, so a record sent twice
(an answer lost after the server stored it) overwrites itself upstream rather than duplicating.
"""
from __future__ import annotations

from typing import Any

import msgspec
import sqlite_utils

from edge_app.errors import NotFoundError
from edge_app.model.upstream import ApprovalSummary, GateEvent, OrderSummary, OutboxCounts, OutboxEntry
from edge_app.store.audit import append_audit

ENTRY_COLS = ("seq", "key", "kind", "encounter_id", "encounter_status", "first_obs", "last_obs", "created_at",
              "state", "attempts", "last_attempt_at", "last_error", "http_status", "dead_at")
MAX_ERROR = 500


def _row(r: tuple[Any, ...]) -> OutboxEntry:
    return OutboxEntry(*r)


def enqueue_encounter(db: sqlite_utils.Database, encounter_id: str, version: int, status: str, now_ms: int) -> str:
    """Queue the record (call inside the writer op that changed its status)."""
    key = f"enc-{encounter_id}-v{version}"
    db.execute("DELETE FROM outbox WHERE kind = 'encounter' AND encounter_id = ? AND state = 'pending'",
               (encounter_id,))
    db.execute("INSERT INTO outbox (key, kind, encounter_id, encounter_status, created_at) "
               "VALUES (?, 'encounter', ?, ?, ?)", (key, encounter_id, status, now_ms))
    return key


def cut_observation_entries(db: sqlite_utils.Database, now_ms: int, max_rows: int = 2000,
                            per_entry: int = 500) -> int:
    """Move the live-observation cursor forward over up to max_rows observations, queueing one entry per
    encounter run; readings that belong to no encounter are not patient records and are not sent."""
    cursor = db.execute("SELECT obs_cursor FROM upstream_state WHERE one = 1").fetchone()[0]
    rows = db.execute("SELECT id, encounter_id, charted FROM observations WHERE id > ? ORDER BY id LIMIT ?",
                      (cursor, max_rows)).fetchall()
    if not rows:
        return 0
    runs: dict[str, list[int]] = {}
    made = 0
    for oid, enc, charted in rows:
        if enc is None or not charted:  # the full-rate series stays on the box; the record goes
            continue
        run = runs.setdefault(enc, [])
        run.append(oid)
        if len(run) >= per_entry:
            made += _observation_entry(db, enc, run, now_ms)
            runs[enc] = []
    for enc, run in runs.items():
        if run:
            made += _observation_entry(db, enc, run, now_ms)
    db.execute("UPDATE upstream_state SET obs_cursor = ? WHERE one = 1", (rows[-1][0],))
    return made


def _observation_entry(db: sqlite_utils.Database, encounter_id: str, ids: list[int], now_ms: int) -> int:
    db.execute("INSERT INTO outbox (key, kind, encounter_id, first_obs, last_obs, created_at) "
               "VALUES (?, 'observations', ?, ?, ?, ?)",
               (f"obs-{ids[0]}-{ids[-1]}", encounter_id, ids[0], ids[-1], now_ms))
    return 1


def pending(db: sqlite_utils.Database, limit: int, after: int = 0) -> list[OutboxEntry]:
    return [_row(r) for r in db.execute(f"SELECT {', '.join(ENTRY_COLS)} FROM outbox WHERE state = 'pending' "
                                        "AND seq > ? ORDER BY seq LIMIT ?", (after, limit))]


def dead_letters(db: sqlite_utils.Database, limit: int = 100) -> list[OutboxEntry]:
    return [_row(r) for r in db.execute(f"SELECT {', '.join(ENTRY_COLS)} FROM outbox WHERE state = 'dead' "
                                        "ORDER BY seq LIMIT ?", (limit,))]


def entry(db: sqlite_utils.Database, key: str) -> OutboxEntry:
    r = db.execute(f"SELECT {', '.join(ENTRY_COLS)} FROM outbox WHERE key = ?", (key,)).fetchone()
    if r is None:
        raise NotFoundError(f"outbox entry {key} not found (already confirmed, superseded or dropped)")
    return _row(r)


def was_done(db: sqlite_utils.Database, key: str) -> bool:
    return db.execute("SELECT 1 FROM outbox_done WHERE key = ?", (key,)).fetchone() is not None


def ack(key: str, now_ms: int, actor: str) -> Any:
    """The target confirmed it: out of the outbox; a closed encounter's record is now acknowledged (and so
    may be purged after the retention period). Acking twice is fine (an answer seen twice)."""

    def op(db: sqlite_utils.Database) -> str:
        if was_done(db, key):
            return "already"
        e = entry(db, key)
        db.execute("DELETE FROM outbox WHERE key = ?", (key,))
        db.execute("INSERT INTO outbox_done (key, kind, encounter_id, created_at, acked_at, attempts) "
                   "VALUES (?,?,?,?,?,?)", (key, e.kind, e.encounter_id, e.created_at, now_ms, e.attempts + 1))
        if e.kind == "encounter" and e.encounter_status == "closed":
            db.execute("UPDATE encounters SET upstream_acked_at = ? WHERE id = ? AND status = 'closed'",
                       (now_ms, e.encounter_id))
        db.execute("UPDATE upstream_state SET last_ok_at = ? WHERE one = 1", (now_ms,))
        append_audit(db, now_ms, actor, "upstream.sent", e.encounter_id, {"key": key})
        return "acked"

    return op


def failed(key: str, now_ms: int, error: str, status: int | None) -> Any:
    """A try that will be retried (5xx, timeout, reset): counted, and the reason kept for status."""
    error = error[:MAX_ERROR]

    def op(db: sqlite_utils.Database) -> None:
        entry(db, key)
        db.execute("UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?, last_error = ?, http_status = ? "
                   "WHERE key = ?", (now_ms, error, status, key))
        db.execute("UPDATE upstream_state SET last_error = ?, last_error_at = ? WHERE one = 1", (error, now_ms))

    return op


def dead(key: str, now_ms: int, reason: str, status: int | None, actor: str) -> Any:
    """The target refused it (4xx): kept as a dead letter, with the server's reason, until a technician acts."""
    reason = reason[:MAX_ERROR]

    def op(db: sqlite_utils.Database) -> OutboxEntry:
        e = entry(db, key)
        db.execute("UPDATE outbox SET state = 'dead', dead_at = ?, attempts = attempts + 1, last_attempt_at = ?, "
                   "last_error = ?, http_status = ? WHERE key = ?", (now_ms, now_ms, reason, status, key))
        db.execute("UPDATE upstream_state SET last_error = ?, last_error_at = ? WHERE one = 1",
                   (f"{key} refused: {reason}", now_ms))
        append_audit(db, now_ms, actor, "upstream.refused", e.encounter_id, {"key": key, "status": status})
        return entry(db, key)

    return op


def requeue(key: str, now_ms: int, actor: str) -> Any:
    """A technician sends a dead letter again (after the upstream or the record was fixed)."""

    def op(db: sqlite_utils.Database) -> OutboxEntry:
        e = entry(db, key)
        if e.state != "dead":
            raise NotFoundError(f"outbox entry {key} is not a dead letter")
        db.execute("UPDATE outbox SET state = 'pending', dead_at = NULL WHERE key = ?", (key,))
        append_audit(db, now_ms, actor, "upstream.requeue", e.encounter_id, {"key": key})
        return entry(db, key)

    return op


def gate_event(action: str, reason: str, now_ms: int, actor: str, approval: ApprovalSummary | None = None) -> Any:
    """Suspend or resume forwarding; persisted (the newest row is the state) and audited."""
    if action not in ("suspend", "resume"):
        raise ValueError(action)

    def op(db: sqlite_utils.Database) -> GateEvent | None:
        db.execute("INSERT INTO upstream_gate (at, actor, action, reason, approval) VALUES (?,?,?,?,?)",
                   (now_ms, actor, action, reason, _json(approval) if approval else None))
        append_audit(db, now_ms, actor, f"upstream.{action}", None, {"reason": reason} |
                     ({"approval": approval.approval_id, "key": approval.key_fingerprint} if approval else {}))
        return last_gate_event(db)

    return op


def apply_suspend_order(order: OrderSummary, reason: str, now_ms: int, actor: str) -> Any:
    """A verified suspend order (upstream.orders): "applied", or "already" when this order was applied
    before. NotApplied when it was issued before the newest resume: it must not undo a reconnection
    the authority approved after it. order: SuspendOrder.summary()."""

    def op(db: sqlite_utils.Database) -> str:
        if db.execute("SELECT 1 FROM upstream_gate WHERE order_id = ?", (order.order_id,)).fetchone():
            return "already"
        resumed = db.execute("SELECT max(at) FROM upstream_gate WHERE action = 'resume'").fetchone()[0]
        if resumed is not None and order.issued_at_ms < resumed:
            raise OrderSuperseded(resumed)
        db.execute("INSERT INTO upstream_gate (at, actor, action, reason, order_id, signed_order) "
                   "VALUES (?,?,'suspend',?,?,?)", (now_ms, actor, reason, order.order_id, _json(order)))
        append_audit(db, now_ms, actor, "upstream.suspend", None,
                     {"reason": reason, "order": order.order_id, "key": order.key_fingerprint})
        return "applied"

    return op


class OrderSuperseded(Exception):
    """A suspend order issued before the newest resume (at, ms)."""

    def __init__(self, resumed_at: int) -> None:
        super().__init__(resumed_at)
        self.resumed_at = resumed_at


_APPROVAL = msgspec.json.Decoder(ApprovalSummary)
_ORDER = msgspec.json.Decoder(OrderSummary)


def _json(value: msgspec.Struct) -> str:
    return msgspec.json.encode(value).decode()


def last_gate_event(db: sqlite_utils.Database) -> GateEvent | None:
    r = db.execute("SELECT at, actor, action, reason, approval, signed_order FROM upstream_gate "
                   "ORDER BY id DESC LIMIT 1").fetchone()
    if r is None:
        return None
    return GateEvent(at=r[0], actor=r[1], action=r[2], reason=r[3],
                     approval=_APPROVAL.decode(r[4]) if r[4] else None, order=_ORDER.decode(r[5]) if r[5] else None)


def counts(db: sqlite_utils.Database) -> OutboxCounts:
    pend, dead_n, oldest = db.execute(
        "SELECT sum(state = 'pending'), sum(state = 'dead'), min(CASE WHEN state = 'pending' THEN created_at END) "
        "FROM outbox").fetchone()
    done = db.execute("SELECT count(*) FROM outbox_done").fetchone()[0]
    st = db.execute("SELECT obs_cursor, last_ok_at, last_error, last_error_at FROM upstream_state").fetchone()
    return OutboxCounts(pending=pend or 0, dead=dead_n or 0, sent=done, oldest_pending_at=oldest,
                        observation_cursor=st[0], last_ok_at=st[1], last_error=st[2], last_error_at=st[3])
