"""Read side: each thread gets its own read-only connection; only committed rows are ever seen."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import sqlite_utils

from edge_app.errors import NotFoundError
from edge_app.model.devices import KnownDevice
from edge_app.model.encounter import Encounter, EncounterEvent
from edge_app.model.observation import Observation
from edge_app.store.connection import open_db
from edge_app.store.encounters import decode_record, events_of
from edge_app.store.observations import OBS_COLS, observation_row

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
_OBS_SELECT = ", ".join(OBS_COLS)
_INFO = msgspec.json.Decoder(dict[str, str])


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

    def encounters(self, *, status: str | None = None, limit: int = 100) -> list[Encounter]:
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

    def encounter(self, encounter_id: str) -> Encounter:
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

    def _encounter_doc(self, record: str, active: int, count: int) -> Encounter:
        return Encounter(**msgspec.structs.asdict(decode_record(record)), active=bool(active),
                         observation_count=count)

    def events(self, encounter_id: str) -> list[EncounterEvent]:
        """The encounter's change history (raises NotFoundError)."""
        if self.db.execute("SELECT 1 FROM encounters WHERE id = ?", (encounter_id,)).fetchone() is None:
            raise NotFoundError(f"encounter {encounter_id} not found")
        return events_of(self.db, encounter_id)

    def active_encounter_id(self) -> str | None:
        row = self.db.execute("SELECT id FROM encounters WHERE status = 'open' "
                              "ORDER BY rowid DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def observations(self, *, encounter_id: str | None = None, unassigned: bool = False,
                     metric: str | None = None, device: str | None = None, after: int = 0,
                     limit: int = 1000, charted: bool = False) -> list[Observation]:
        """In sequence order (id), which survives wall-clock jumps; `after` pages by id. The full-rate
        series (every reading as it came), or with charted=True an encounter's charted record: every manual
        entry and the device values charted at an interval or on demand (observation sets)."""
        where: list[str] = ["id > ?", "charted = 1" if charted else "copy_of IS NULL"]
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
        sql = (f"SELECT {_OBS_SELECT} FROM observations WHERE {' AND '.join(where)} "
               "ORDER BY id LIMIT ?")
        return [observation_row(r) for r in self.db.execute(sql, [*args, limit]).fetchall()]

    def manual_entries(self, encounter_id: str, metrics: tuple[str, ...], start_ms: int, end_ms: int
                       ) -> list[Observation]:
        """The crew's entries of these metrics stated from start_ms to end_ms, in stated-time order."""
        marks = ", ".join("?" * len(metrics))
        sql = (f"SELECT {_OBS_SELECT} FROM observations WHERE encounter_id = ? AND metric IN ({marks}) "
               "AND source = 'manual' AND received_at BETWEEN ? AND ? ORDER BY received_at, id")
        return [observation_row(r) for r in self.db.execute(sql, [encounter_id, *metrics, start_ms, end_ms])]

    def last_chart_at(self, encounter_id: str) -> int | None:
        """When the encounter's device values were last charted (epoch ms); None: never."""
        row = self.db.execute("SELECT max(at) FROM chart_sets WHERE encounter_id = ?", (encounter_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def observation(self, obs_id: int) -> Observation:
        row = self.db.execute(f"SELECT {_OBS_SELECT} FROM observations WHERE id = ?", (obs_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"observation {obs_id} not found")
        return observation_row(row)

    def vital_candidates(self, encounter_id: str) -> list[Observation]:
        """What clinical.vitals.current_vitals needs of an encounter: per metric and source (each device,
        and the crew's entries), the newest reading flagged unreliable and the newest one not. A device's
        newest is by sequence (id, which survives the wall clock stepping back), an entry's by its stated
        time (a back-dated entry is older), then id. A few rows by key, however long the record
        (observation_newest is kept as rows are stored)."""
        cols = ", ".join(f"o.{c}" for c in OBS_COLS)
        rows = self.db.execute(f"SELECT {cols} FROM observation_newest n JOIN observations o ON o.id = n.obs_id "
                               "WHERE n.encounter_id = ?", (encounter_id,)).fetchall()
        return [observation_row(r) for r in rows]

    def devices(self) -> list[KnownDevice]:
        """Every device ever configured (name, protocol, port, info)."""
        return [KnownDevice(name=r[0], protocol=r[1], port=r[2], info=_INFO.decode(r[3]) if r[3] else {})
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


def integrity_check(db: sqlite_utils.Database) -> list[str]:
    """PRAGMA integrity_check; ['ok'] when sound."""
    return [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
