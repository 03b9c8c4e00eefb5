"""Encounter writes: every change is an append-only event; the `encounters` row is their projection."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import sqlite_utils

from edge_app.errors import NotFoundError, StoreError
from edge_app.model.encounter import EncounterEvent, EncounterRecord
from edge_app.store.audit import append_audit
from edge_app.store.encounter_record import LISTS, SETTABLE, STATUS_ORDER, apply_event, empty_record, field
from edge_app.store.outbox import enqueue_encounter

Op = Callable[[sqlite_utils.Database], Any]
_RECORD = msgspec.json.Decoder(EncounterRecord)
_ENCODE = msgspec.json.Encoder()


class VersionConflict(StoreError):
    """A write based on a stale version touched fields someone else changed since; carries the current record."""

    def __init__(self, current: EncounterRecord, fields: list[str]) -> None:
        super().__init__(f"changed by someone else since version you read: {', '.join(fields)} "
                         f"(now version {current.version})")
        self.current = current
        self.fields = fields


class RecordClosed(StoreError):
    """Closed encounters are final (they may already be upstream)."""


def decode_record(raw: str | bytes) -> EncounterRecord:
    """The projection as stored (JSON) back as a record."""
    return _RECORD.decode(raw)


def load_record(db: sqlite_utils.Database, encounter_id: str) -> EncounterRecord:
    """The projected record (raises NotFoundError)."""
    row = db.execute("SELECT record FROM encounters WHERE id = ?", (encounter_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"encounter {encounter_id} not found")
    return decode_record(row[0])


def _save(db: sqlite_utils.Database, record: EncounterRecord) -> None:
    db.execute("UPDATE encounters SET incident_ref = ?, status = ?, spo2_scale = ?, updated_at = ?, version = ?, "
               "record = ? WHERE id = ?",
               (record.incident_ref, record.status, record.spo2_scale, record.updated_at, record.version,
                _ENCODE.encode(record).decode(), record.id))


def _event(db: sqlite_utils.Database, encounter_id: str, version: int, at: int, actor: str, kind: str,
           path: str | None, value: Any) -> EncounterEvent:
    text = _ENCODE.encode(value).decode()
    cur = db.execute("INSERT INTO encounter_events (encounter_id, version, at, actor, kind, path, value) "
                     "VALUES (?,?,?,?,?,?,?)", (encounter_id, version, at, actor, kind, path, text))
    return EncounterEvent(id=int(cur.lastrowid or 0), version=version, at=at, actor=actor, kind=kind,  # type: ignore[arg-type]
                          path=path, value=value)


def create_encounter(now_ms: int, actor: str, incident_ref: str = "") -> Op:
    """A new open encounter; being the newest open one, it becomes the active one."""

    def op(db: sqlite_utils.Database) -> str:
        eid = str(uuid.uuid4())
        record = empty_record(eid, incident_ref, now_ms)
        db.execute("INSERT INTO encounters (id, incident_ref, status, spo2_scale, created_at, updated_at, version,"
                   " record) VALUES (?, ?, 'open', 1, ?, ?, 1, ?)",
                   (eid, incident_ref, now_ms, now_ms, _ENCODE.encode(record).decode()))
        _event(db, eid, 1, now_ms, actor, "create", None, {"incident_ref": incident_ref})
        append_audit(db, now_ms, actor, "encounter.create", eid, None)
        return eid

    return op


def change_encounter(encounter_id: str, changes: dict[str, Any], now_ms: int, actor: str,
                     if_version: int | None = None, *, forward: bool = False) -> Op:
    """Set fields (paths like "patient.sex", "times.at_scene"). With if_version, refuse only if a field this
    change touches was changed after that version: two clinicians editing different fields both succeed.
    With forward (an upstream is configured), handing over or closing queues the record in the outbox in the
    same transaction: committed together, or not at all."""
    unknown = set(changes) - SETTABLE
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")

    def op(db: sqlite_utils.Database) -> EncounterRecord:
        record = load_record(db, encounter_id)
        if if_version is not None and if_version < record.version and changes:
            marks = ",".join("?" * len(changes))
            touched = [r[0] for r in db.execute(
                f"SELECT DISTINCT path FROM encounter_events WHERE encounter_id = ? AND version > ? "
                f"AND path IN ({marks}) ORDER BY path", (encounter_id, if_version, *changes))]
            if touched:
                raise VersionConflict(record, touched)
        effective = {p: v for p, v in changes.items() if field(record, p) != v}
        if not effective:
            return record
        _check_status(record, effective)
        version = record.version + 1
        for path, value in sorted(effective.items()):
            record = apply_event(record, _event(db, encounter_id, version, now_ms, actor, "set", path, value),
                                 encounter_id)
        _save(db, record)
        append_audit(db, now_ms, actor, "encounter.update", encounter_id, {"fields": sorted(effective)})
        if forward and effective.get("status") in ("handed_over", "closed"):
            enqueue_encounter(db, encounter_id, version, effective["status"], now_ms)
        return record

    return op


def append_item(encounter_id: str, list_name: str, item: dict[str, Any], now_ms: int, actor: str) -> Op:
    """Add a medication given, an intervention or a note (the list's item, with its id); appends never conflict."""
    if list_name not in LISTS:
        raise ValueError(f"unknown list {list_name!r}")
    item_type = LISTS[list_name]

    def op(db: sqlite_utils.Database) -> msgspec.Struct:
        record = load_record(db, encounter_id)
        _check_status(record, {})
        version = record.version + 1
        seq = db.execute("SELECT coalesce(max(id), 0) + 1 FROM encounter_events").fetchone()[0]
        entry = msgspec.convert({"id": seq, **item, "entered_by": actor}, item_type)
        record = apply_event(record, _event(db, encounter_id, version, now_ms, actor, "append", list_name, entry),
                             encounter_id)
        _save(db, record)
        append_audit(db, now_ms, actor, f"encounter.{list_name}.add", encounter_id, {"item": seq})
        return entry

    return op


def _check_status(record: EncounterRecord, changes: dict[str, Any]) -> None:
    if record.status == "closed":
        raise RecordClosed("encounter is closed; a closed record is final")
    new = changes.get("status")
    if new is not None and STATUS_ORDER[new] < STATUS_ORDER[record.status]:
        raise RecordClosed(f"status can go open -> handed_over -> closed, not {record.status} -> {new}")


_EVENT_VALUE = msgspec.json.Decoder()


def events_of(db: sqlite_utils.Database, encounter_id: str) -> list[EncounterEvent]:
    """Every event of an encounter in order."""
    return [EncounterEvent(id=r[0], version=r[1], at=r[2], actor=r[3], kind=r[4], path=r[5],
                           value=_EVENT_VALUE.decode(r[6]))
            for r in db.execute("SELECT id, version, at, actor, kind, path, value FROM encounter_events "
                                "WHERE encounter_id = ? ORDER BY id", (encounter_id,))]


def purge_expired(now_ms: int, retention_days: int) -> Op:
    """Delete encounters closed and acknowledged upstream more than retention_days ago, with their
    observations and events. Nothing unacknowledged is ever purged. Audit rows stay (they hold no
    patient data, only ids)."""

    def op(db: sqlite_utils.Database) -> list[str]:
        cutoff = now_ms - retention_days * 86_400_000
        ids = [r[0] for r in db.execute(
            "SELECT id FROM encounters WHERE status = 'closed' AND upstream_acked_at IS NOT NULL "
            "AND upstream_acked_at < ? AND updated_at < ?", (cutoff, cutoff))]
        for eid in ids:
            db.execute("DELETE FROM observations WHERE encounter_id = ?", (eid,))
            db.execute("DELETE FROM observation_newest WHERE encounter_id = ?", (eid,))
            db.execute("DELETE FROM chart_sets WHERE encounter_id = ?", (eid,))
            db.execute("DELETE FROM encounter_events WHERE encounter_id = ?", (eid,))
            db.execute("DELETE FROM encounters WHERE id = ?", (eid,))
        if ids:
            append_audit(db, now_ms, "retention", "encounter.purge", None, {"encounters": ids,
                                                                             "retention_days": retention_days})
        return ids

    return op
