"""Observations in SQLite: the write ops (device readings, clinicians' entries) and the row as a record."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import sqlite_utils

from firmware_bridge.flags import is_unreliable
from firmware_bridge.metrics import METRICS, ValueKind

from edge_app.errors import NotFoundError
from edge_app.model.observation import NewObservation, Observation
from edge_app.store.audit import append_audit
from edge_app.store.encounters import RecordClosed
from edge_app.store.writer import MergeableOp

OBS_COLS = ("id", "encounter_id", "metric", "value", "unit", "device_time", "received_at", "source", "device",
            "flags", "entered_by")
_INSERT_OBS = ("INSERT INTO observations (encounter_id, metric, value, unit, device_time, received_at, source, device,"
               " flags, entered_by, unreliable) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
# A clinician's entry is always in the charted record.
_INSERT_MANUAL = ("INSERT INTO observations (encounter_id, metric, value, unit, device_time, received_at, source,"
                  " device, flags, entered_by, unreliable, charted) VALUES (?,?,?,?,?,?,'manual',NULL,NULL,?,0,1)")
# A device's current value charted: a copy of the reading, in the record, not in the full-rate series.
_INSERT_CHART = ("INSERT INTO observations (encounter_id, metric, value, unit, device_time, received_at, source,"
                 " device, flags, entered_by, unreliable, charted, copy_of) "
                 "SELECT encounter_id, metric, value, unit, device_time, received_at, source, device, flags, ?, "
                 "unreliable, 1, id FROM observations WHERE id = ? AND encounter_id = ? AND copy_of IS NULL")
# The same, for readings with no open encounter to attach to. Python's sqlite3 binds None through its
# adapter lookup (several times the cost of binding a string), so a NULL the whole run shares is written in.
_INSERT_UNASSIGNED_OBS = ("INSERT INTO observations (encounter_id, metric, value, unit, device_time, received_at,"
                          " source, device, flags, entered_by, unreliable) VALUES (NULL,?,?,?,?,?,?,?,?,?,?)")


def active_encounter(db: sqlite_utils.Database) -> str | None:
    """The newest open encounter: device readings attach to it."""
    row = db.execute("SELECT id FROM encounters WHERE status = 'open' ORDER BY rowid DESC LIMIT 1").fetchone()
    return row[0] if row else None


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
        encounter = active_encounter(db)
        marks = [1 if o.flags and is_unreliable(o.flags) else 0 for op in ops for o in op.obs]
        # Generators, not lists: each row's tuple is freed once bound, so a burst of thousands of readings
        # leaves the garbage collector nothing to scan.
        if encounter is None:
            rows: Iterator[tuple[Any, ...]] = (
                (o.metric, o.value, o.unit, o.device_time, o.received_at, o.source, o.device,
                 json.dumps(list(o.flags)) if o.flags else None, o.entered_by, mark)
                for o, mark in zip((o for op in ops for o in op.obs), marks, strict=True))
            stored = db.conn.executemany(_INSERT_UNASSIGNED_OBS, rows).rowcount
        else:
            rows = ((encounter, o.metric, o.value, o.unit, o.device_time, o.received_at, o.source, o.device,
                     json.dumps(list(o.flags)) if o.flags else None, o.entered_by, mark)
                    for o, mark in zip((o for op in ops for o in op.obs), marks, strict=True))
            stored = db.conn.executemany(_INSERT_OBS, rows).rowcount
        # AUTOINCREMENT and the single writer inside its transaction: the new ids are consecutive and end at seq.
        first = 0
        if stored:
            last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'observations'").fetchone()[0]
            first = last - stored + 1
        if encounter is not None and stored:
            note_newest(db, encounter, ((o, first + i, mark) for i, (o, mark) in
                                        enumerate(zip((o for op in ops for o in op.obs), marks, strict=True))))
        ids = []
        for op in ops:
            ids.append(range(first, first + len(op.obs)))
            first += len(op.obs)
        return ids


# observation_newest: per encounter, metric, source, device ('' for manual) and unreliable, the newest row
# (devices by id, manual entries by stated time then id), kept as rows are stored, so the current vitals
# are a read of a few rows however long the job (DESIGN.md "Scale": per-tick costs O(1)).
_NOTE_DEVICE = ("INSERT INTO observation_newest (encounter_id, metric, source, device, unreliable, obs_id, received_at) "
                "VALUES (?, ?, 'device', ?, ?, ?, ?) ON CONFLICT DO UPDATE SET obs_id = excluded.obs_id, "
                "received_at = excluded.received_at WHERE excluded.obs_id > observation_newest.obs_id")
_NOTE_MANUAL = ("INSERT INTO observation_newest (encounter_id, metric, source, device, unreliable, obs_id, received_at) "
                "VALUES (?, ?, 'manual', '', 0, ?, ?) ON CONFLICT DO UPDATE SET obs_id = excluded.obs_id, "
                "received_at = excluded.received_at WHERE (excluded.received_at, excluded.obs_id) > "
                "(observation_newest.received_at, observation_newest.obs_id)")


def note_newest(db: sqlite_utils.Database, encounter: str,
                rows: Iterable[tuple[NewObservation, int, int]]) -> None:
    """Keep observation_newest up to date with device readings just stored (observation, id, unreliable)."""
    newest: dict[tuple[str, str, int], tuple[int, int]] = {}
    for o, oid, mark in rows:  # in id order: the last of each key is its newest
        newest[(o.metric, o.device or "", mark)] = (oid, o.received_at)
    db.conn.executemany(_NOTE_DEVICE, [(encounter, metric, device, mark, oid, at)
                                       for (metric, device, mark), (oid, at) in newest.items()])


def insert_manual_observations(encounter_id: str, obs: Sequence[NewObservation], actor: str
                               ) -> Callable[[sqlite_utils.Database], list[int]]:
    """A clinician's entries on a named encounter (e.g. the three GCS components), audited in the same transaction."""

    def op(db: sqlite_utils.Database) -> list[int]:
        row = db.execute("SELECT status FROM encounters WHERE id = ?", (encounter_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"encounter {encounter_id} not found")
        if row[0] == "closed":
            raise RecordClosed("encounter is closed; a closed record is final")
        ids = []
        for o in obs:
            cur = db.execute(_INSERT_MANUAL, (encounter_id, o.metric, o.value, o.unit, o.device_time, o.received_at,
                                              o.entered_by))
            ids.append(int(cur.lastrowid or 0))
            db.execute(_NOTE_MANUAL, (encounter_id, o.metric, ids[-1], o.received_at))
        at = obs[0].received_at if obs else 0
        append_audit(db, at, actor, "observation.create", encounter_id,
                     {"observations": ids, "metrics": [o.metric for o in obs]})
        return ids

    return op


def insert_chart_set(encounter_id: str, reading_ids: Sequence[int], at: int, reason: str, actor: str
                     ) -> Callable[[sqlite_utils.Database], tuple[int, list[int]]]:
    """Chart a device's current values on an open encounter: a chart set (when, why, who) and a copy of
    each reading in the charted record. Returns the set's id and the copies' ids (in reading order)."""

    def op(db: sqlite_utils.Database) -> tuple[int, list[int]]:
        row = db.execute("SELECT status FROM encounters WHERE id = ?", (encounter_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"encounter {encounter_id} not found")
        if row[0] == "closed":
            raise RecordClosed("encounter is closed; a closed record is final")
        set_id = int(db.execute("INSERT INTO chart_sets (encounter_id, at, reason, actor) VALUES (?, ?, ?, ?)",
                                (encounter_id, at, reason, actor)).lastrowid or 0)
        ids = []
        for rid in reading_ids:
            cur = db.execute(_INSERT_CHART, (f"chart:{set_id}", rid, encounter_id))
            if cur.rowcount:
                ids.append(int(cur.lastrowid or 0))
        append_audit(db, at, actor, "chart.create", encounter_id, {"set": set_id, "reason": reason,
                                                                    "observations": ids})
        return set_id, ids

    return op


_KIND = {str(m): info.kind for m, info in METRICS.items()}


def observation_row(row: tuple[Any, ...]) -> Observation:
    """A stored row as a record: value typed by the metric, flags as a list."""
    oid, enc, metric, value, unit, device_time, received_at, source, device, flags, entered_by = row
    return Observation(oid, enc, metric, typed_value(metric, value), unit, device_time, received_at, source, device,
                       json.loads(flags) if flags else [], entered_by)


def typed_value(metric: str, value: Any) -> Any:
    """SQLite keeps booleans as 0/1 and whole numbers as REAL: give them back as the metric's kind."""
    kind = _KIND.get(metric)
    if kind is ValueKind.BOOLEAN:
        return bool(value)
    if kind is ValueKind.NUMBER and isinstance(value, float) and value.is_integer():
        return int(value) if abs(value) < 2**53 else value
    return value

