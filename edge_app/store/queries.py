"""Read side: each thread gets its own read-only connection; only committed rows are ever seen."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import sqlite_utils

from firmware_bridge.metrics import METRICS, Metric, ValueKind

from edge_app.errors import NotFoundError
from edge_app.store.connection import open_db
from edge_app.store.records import GENESIS_HASH, audit_hash

# An encounter's id, record, and whether it is the active one (the newest open encounter).
_ENC_SELECT = ("e.id, e.record, e.id IS (SELECT id FROM encounters WHERE status = 'open' "
               "ORDER BY rowid DESC LIMIT 1)")
# Over v (id, counted, upto): its observations counted up to id `upto`, plus those since (`+encounter_id`: walk
# the rowid range after upto, not the encounter's index), and the newest observation id now. Without an
# upto, all of them by the index.
_COUNT_SELECT = ("CASE WHEN v.upto IS NULL THEN (SELECT count(*) FROM observations WHERE encounter_id = v.id) "
                 "ELSE v.counted + (SELECT count(*) FROM observations WHERE id > v.upto AND +encounter_id = v.id) END, "
                 "(SELECT coalesce(max(id), 0) FROM observations)")
COUNT_FRESH_S = 60.0  # see Reader.count_known
_OBS_COLS = ("id", "encounter_id", "metric", "value", "unit", "device_time", "received_at", "source", "device",
             "flags", "entered_by")


class Reader:
    """Queries on per-thread read-only connections (API handlers run in a thread pool)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()
        # encounter id -> (its observations up to id upto, upto, time.monotonic() when counted)
        self._counted: dict[str, tuple[int, int, float]] = {}

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = open_db(self.path, readonly=True)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()

    def encounters(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        sql = f"SELECT {_ENC_SELECT} FROM encounters e"
        args: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            args.append(status)
        sql += " ORDER BY rowid DESC LIMIT ?"
        args.append(limit)
        rows = self.db.execute(sql, args).fetchall()
        counts = self._observation_counts([r[0] for r in rows])
        return [self._encounter_doc(r[1], r[2], counts[r[0]]) for r in rows]

    def encounter(self, encounter_id: str) -> dict[str, Any]:
        """One encounter as the API shows it, in one statement: the record, whether it is the active one,
        and how many observations it has (see _observation_counts)."""
        count, upto, _at = self._counted.get(encounter_id, (0, None, 0.0))
        row = self.db.execute(
            f"SELECT {_ENC_SELECT}, {_COUNT_SELECT} FROM encounters e, (SELECT ? AS id, ? AS counted, ? AS upto) v "
            "WHERE e.id = v.id", (encounter_id, count, upto)).fetchone()
        if row is None:
            raise NotFoundError(f"encounter {encounter_id} not found")
        self._note_count(encounter_id, row[3], row[4])
        return self._encounter_doc(row[1], row[2], row[3])

    def count_known(self, encounter_id: str) -> bool:
        """Whether reading this encounter is cheap: its observation count is kept (see _observation_counts)
        and recent, so a read is one row by its key and a short walk of the observations stored since
        (monitors add tens a second; the walk takes about 0.1 µs a row)."""
        got = self._counted.get(encounter_id)
        return got is not None and time.monotonic() - got[2] < COUNT_FRESH_S

    def _observation_counts(self, ids: list[str]) -> dict[str, int]:
        """How many observations each encounter has, in one statement.

        Counting an encounter's observations walks its index entries: tens of thousands after an hour of
        monitoring, milliseconds on every read. So the count is kept here per encounter, with the newest
        observation id when it was taken (upto), and a read counts only the rows stored after that: a
        short walk of the rowid range. That is exact because observations are only ever added, each
        commit's ids above every id before it (one writer, AUTOINCREMENT), and never move to another
        encounter; a purge deletes the encounter with them.
        """
        if not ids:
            return {}
        args: list[Any] = []
        for eid in ids:
            count, upto, _at = self._counted.get(eid, (0, None, 0.0))
            args += [eid, count, upto]
        values = ", ".join(["(?, ?, ?)"] * len(ids))
        rows = self.db.execute(f"SELECT v.id, {_COUNT_SELECT} FROM (SELECT column1 AS id, column2 AS counted, "
                               f"column3 AS upto FROM (VALUES {values})) v", args).fetchall()
        for eid, count, top in rows:
            self._note_count(eid, count, top)
        return {eid: count for eid, count, _ in rows}

    def _note_count(self, encounter_id: str, count: int, upto: int) -> None:
        with self._lock:
            if len(self._counted) > 10_000:  # encounters purged long ago
                self._counted.clear()
            old = self._counted.get(encounter_id)
            if old is None or old[1] <= upto:  # another thread may have counted from a newer snapshot
                self._counted[encounter_id] = (count, upto, time.monotonic())

    def _encounter_doc(self, record: str, active: int, count: int) -> dict[str, Any]:
        enc = json.loads(record)
        enc["active"] = bool(active)
        enc["observation_count"] = count
        return enc

    def events(self, encounter_id: str) -> list[dict[str, Any]]:
        """The encounter's change history (raises NotFoundError)."""
        from edge_app.store.encounters import events_of

        self.encounter(encounter_id)
        return events_of(self.db, encounter_id)

    def active_encounter_id(self) -> str | None:
        row = self.db.execute("SELECT id FROM encounters WHERE status = 'open' "
                              "ORDER BY rowid DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def observations(self, *, encounter_id: str | None = None, unassigned: bool = False,
                     metric: str | None = None, device: str | None = None, after: int = 0,
                     limit: int = 1000) -> list[dict[str, Any]]:
        """In sequence order (id), which survives wall-clock jumps; `after` pages by id."""
        where: list[str] = ["id > ?"]
        args: list[int | str] = [after]
        if encounter_id is not None:
            where.append("encounter_id = ?")
            args.append(encounter_id)
        elif unassigned:
            where.append("encounter_id IS NULL")
        if metric:
            where.append("metric = ?")
            args.append(metric)
        if device:
            where.append("device = ?")
            args.append(device)
        sql = (f"SELECT {', '.join(_OBS_COLS)} FROM observations WHERE {' AND '.join(where)} "
               "ORDER BY id LIMIT ?")
        return [observation_row(r) for r in self.db.execute(sql, [*args, limit]).fetchall()]

    def observation(self, obs_id: int) -> dict[str, Any]:
        row = self.db.execute(f"SELECT {', '.join(_OBS_COLS)} FROM observations WHERE id = ?", (obs_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"observation {obs_id} not found")
        return observation_row(row)

    def latest_values(self, encounter_id: str) -> dict[str, dict[str, Any]]:
        """The latest observation of each metric on an encounter: see newest() for what "latest" means."""
        # Per metric and source: the device reading with the highest id, the manual entry with the latest
        # stated time (then the highest id). At most two rows per metric; newest() picks one.
        rows = self.db.execute(
            f"SELECT {', '.join(_OBS_COLS)} FROM (SELECT *, row_number() OVER (PARTITION BY metric, source "
            "ORDER BY CASE source WHEN 'device' THEN id END DESC, received_at DESC, id DESC) AS rn "
            "FROM observations WHERE encounter_id = ?) WHERE rn = 1", (encounter_id,)).fetchall()
        by_kind: dict[str, dict[str, dict[str, Any]]] = {}
        for r in rows:
            obs = observation_row(r)
            by_kind.setdefault(obs["metric"], {})[obs["source"]] = obs
        latest: dict[str, dict[str, Any]] = {}
        for metric, kinds in by_kind.items():
            pick = newest(kinds.get("device"), kinds.get("manual"))
            if pick is not None:
                latest[metric] = pick
        return latest

    def devices(self) -> list[dict[str, Any]]:
        """Every device ever configured (name, protocol, port, info)."""
        return [{"name": r[0], "protocol": r[1], "port": r[2], "info": json.loads(r[3]) if r[3] else {}}
                for r in self.db.execute("SELECT name, protocol, port, info FROM devices ORDER BY name")]

    def counts(self) -> dict[str, int]:
        """Headline numbers for status lines."""
        q = self.db.execute
        return {
            "encounters_open": q("SELECT count(*) FROM encounters WHERE status = 'open'").fetchone()[0],
            "encounters": q("SELECT count(*) FROM encounters").fetchone()[0],
            "observations": q("SELECT count(*) FROM observations").fetchone()[0],
            "unassigned": q("SELECT count(*) FROM observations WHERE encounter_id IS NULL").fetchone()[0],
        }


def newest(device: dict[str, Any] | None, manual: dict[str, Any] | None) -> dict[str, Any] | None:
    """Which of a metric's newest device reading and newest manual entry is its latest value.

    Pass the device reading with the highest id (sequence) and the manual entry with the latest
    received_at, its stated observation time (highest id on a tie); either may be None.

    Device readings rank by sequence, never by received_at: received_at is the box's wall clock when the
    reading arrived, and that clock can step back (NTP or GPS correcting it) while readings keep coming,
    so the newest reading can carry an earlier time than the one before it. Manual entries rank by their
    stated time: a crew member back-dating an entry ("RR 16 at 10:50") must not override a newer one.

    Between the two kinds:
    - a device reading stored after the manual entry (higher id) wins: it arrived after the entry was
      made, and an entry's stated time is never after it was made (beyond the few minutes the API allows
      for a tablet's clock), so the reading is the newer whatever the clocks say;
    - otherwise the reading came first, and the entry wins if its stated time is at or after the
      reading's received_at, i.e. unless it was back-dated to before the reading.
    The second comparison is the only place a clock step still counts: a device that stopped sending
    before the wall clock stepped back, then an entry made after the step, not back-dated, is ranked
    behind that reading until the clock passes it again (at most the size of the step). A monitor still
    sending is unaffected (its next reading wins by sequence), and a manual entry has no other time to
    go by: we store when it was observed, not when it was entered.
    """
    if device is None or manual is None:
        return device or manual
    if device["id"] > manual["id"]:
        return device
    return manual if manual["received_at"] >= device["received_at"] else device


def observation_row(row: tuple[Any, ...]) -> dict[str, Any]:
    """A stored row as the API shows it: value typed by the metric, flags as a list."""
    obs = dict(zip(_OBS_COLS, row, strict=True))
    obs["value"] = typed_value(obs["metric"], obs["value"])
    obs["flags"] = json.loads(obs["flags"]) if obs["flags"] else []
    return obs


def typed_value(metric: str, value: Any) -> Any:
    try:
        kind = METRICS[Metric(metric)].kind
    except ValueError:
        return value
    if kind is ValueKind.BOOLEAN:
        return bool(value)
    if kind is ValueKind.NUMBER and isinstance(value, float) and value.is_integer():
        return int(value) if abs(value) < 2**53 else value
    return value


def integrity_check(db: sqlite_utils.Database) -> list[str]:
    """PRAGMA integrity_check; ['ok'] when sound."""
    return [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]


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
