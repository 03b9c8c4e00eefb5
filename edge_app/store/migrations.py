"""Schema as append-only migrations: once a migration has shipped, never edit it; add the next one."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import msgspec
import sqlite_utils

from firmware_bridge.flags import UNRELIABLE

from edge_app.errors import StoreError
from edge_app.model.encounter import EncounterEvent
from edge_app.store.encounter_record import apply_event, empty_record, field

_LOGGER = logging.getLogger(__name__)

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    """Register a migration; order of registration is order of application."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("devices").create({"name": str, "protocol": str, "port": str, "address": str, "first_seen": int,
                                "last_seen": int, "info": str}, pk="name", not_null={"protocol", "first_seen"})
    # Encounter ids are random UUIDs: nothing about the patient may ever appear in an id or URL.
    db.table("encounters").create({"id": str, "incident_ref": str, "status": str, "spo2_scale": int,
                                   "created_at": int, "updated_at": int, "version": int},
                                  pk="id", not_null={"status", "spo2_scale", "created_at", "updated_at", "version"},
                                  defaults={"status": "open", "spo2_scale": 1, "version": 1, "incident_ref": ""})
    db.execute("CREATE INDEX encounters_open ON encounters(status, created_at)")
    # The rowid `id` is the sequence: order is kept by it even when a wall clock jumps backwards.
    # `value` has no declared type on purpose: numbers stay REAL/INTEGER, ACVPU text stays TEXT.
    db.execute("""
        CREATE TABLE observations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            encounter_id TEXT REFERENCES encounters(id),
            metric TEXT NOT NULL,
            value NOT NULL,
            unit TEXT NOT NULL,
            device_time INTEGER,
            received_at INTEGER NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('device', 'manual')),
            device TEXT,
            flags TEXT,
            entered_by TEXT
        )""")
    db.execute("CREATE INDEX observations_encounter ON observations(encounter_id, metric, id)")
    db.execute("CREATE INDEX observations_received ON observations(received_at)")
    db.execute("CREATE INDEX observations_device ON observations(device, id)")
    # Hash-chained: each row's hash covers the previous hash, so an edited or deleted row shows.
    db.execute("""
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            object TEXT,
            detail TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""")


@migration
def m002_encounter_events(db: sqlite_utils.Database) -> None:
    # The record is derived from append-only events; `encounters.record` is their projection (JSON).
    db.execute("""
        CREATE TABLE encounter_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            encounter_id TEXT NOT NULL REFERENCES encounters(id),
            version INTEGER NOT NULL,
            at INTEGER NOT NULL,
            actor TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('create', 'set', 'append')),
            path TEXT,
            value TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX encounter_events_by_encounter ON encounter_events(encounter_id, version)")
    db.execute("ALTER TABLE encounters ADD COLUMN record TEXT NOT NULL DEFAULT '{}'")
    # Encounters made before events existed: give each its creation event and projection.
    rows = db.execute("SELECT id, incident_ref, status, spo2_scale, created_at, updated_at FROM encounters").fetchall()
    for eid, ref, status, scale, created, updated in rows:
        db.execute("INSERT INTO encounter_events (encounter_id, version, at, actor, kind, path, value) "
                   "VALUES (?, 1, ?, 'migration', 'create', NULL, ?)", (eid, created, json.dumps({"incident_ref": ref})))
        record = empty_record(eid, ref, created)
        version = 1
        for path, value in (("status", status), ("spo2_scale", scale)):
            if field(record, path) != value:
                version += 1
                db.execute("INSERT INTO encounter_events (encounter_id, version, at, actor, kind, path, value) "
                           "VALUES (?, ?, ?, 'migration', 'set', ?, ?)", (eid, version, updated, path,
                                                                         json.dumps(value)))
                record = apply_event(record, EncounterEvent(id=0, version=version, at=updated, actor="migration",
                                                            kind="set", path=path, value=value), eid)
        db.execute("UPDATE encounters SET record = ?, version = ? WHERE id = ?",
                   (msgspec.json.encode(record).decode(), version, eid))


@migration
def m003_audit_head(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE audit_head (one INTEGER PRIMARY KEY CHECK (one = 1), last_id INTEGER NOT NULL, "
               "hash TEXT NOT NULL)")
    row = db.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    if row:
        db.execute("INSERT INTO audit_head (one, last_id, hash) VALUES (1, ?, ?)", row)


@migration
def m004_upstream_ack(db: sqlite_utils.Database) -> None:
    # Set by the uplink when the target confirmed the record; only acknowledged records may ever be purged.
    db.execute("ALTER TABLE encounters ADD COLUMN upstream_acked_at INTEGER")


@migration
def m005_tablet_auth(db: sqlite_utils.Database) -> None:
    # Only hashes are stored: a copied database gives nobody a working token or pairing code.
    db.execute("""
        CREATE TABLE tokens (
            name TEXT PRIMARY KEY,
            scope TEXT NOT NULL CHECK (scope IN ('crew', 'technician', 'uplink')),
            hash TEXT NOT NULL UNIQUE,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            revoked_at INTEGER,
            created_by TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE pairing_codes (
            hash TEXT PRIMARY KEY,
            scope TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            used_at INTEGER,
            created_by TEXT NOT NULL
        )""")


def current_version(db: sqlite_utils.Database) -> list[str]:
    """Names of the migrations already applied."""
    if "_migrations" not in db.table_names():
        return []
    return [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid").fetchall()]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every pending migration, each in its own transaction; return the names applied."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
        db.execute("COMMIT")
    except Exception:
        db.execute("ROLLBACK")
        raise
    done = set(current_version(db))
    known = {name for name, _ in MIGRATIONS}
    unknown = done - known
    if unknown:
        raise StoreError(f"database was written by a newer edge-app (migrations {sorted(unknown)}); "
                         "upgrade edge-app or restore a backup")
    applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            fn(db)
            db.execute("INSERT INTO _migrations(name, applied_at) VALUES (?, ?)", (name, int(time.time() * 1000)))
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            raise
        _LOGGER.info("applied migration %s", name)
        applied.append(name)
    return applied


@migration
def m006_upstream_outbox(db: sqlite_utils.Database) -> None:
    # What waits to go upstream. An entry leaves only when the target confirmed it (then a row in
    # outbox_done says when) or a technician drops a dead letter; `key` is its idempotency key.
    db.execute("""
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('encounter', 'observations')),
            encounter_id TEXT NOT NULL,
            encounter_status TEXT,
            first_obs INTEGER,
            last_obs INTEGER,
            created_at INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_attempt_at INTEGER,
            last_error TEXT,
            http_status INTEGER,
            dead_at INTEGER
        )""")
    db.execute("CREATE INDEX outbox_state ON outbox (state, seq)")
    db.execute("CREATE TABLE outbox_done (key TEXT PRIMARY KEY, kind TEXT NOT NULL, encounter_id TEXT NOT NULL, "
               "created_at INTEGER NOT NULL, acked_at INTEGER NOT NULL, attempts INTEGER NOT NULL)")
    # The gate's history (append-only; the newest row is the state) and the uplink's progress.
    db.execute("""
        CREATE TABLE upstream_gate (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('suspend', 'resume')),
            reason TEXT NOT NULL,
            approval TEXT
        )""")
    db.execute("CREATE TABLE upstream_state (one INTEGER PRIMARY KEY CHECK (one = 1), obs_cursor INTEGER NOT NULL, "
               "last_ok_at INTEGER, last_error TEXT, last_error_at INTEGER)")
    db.execute("INSERT INTO upstream_state (one, obs_cursor) VALUES (1, 0)")


@migration
def m007_suspend_orders(db: sqlite_utils.Database) -> None:
    # A suspend that came as the fleet's signed order: its id (applied once, ever; an MQTT retained
    # message comes back at every reconnect) and who signed it, as JSON.
    db.execute("ALTER TABLE upstream_gate ADD COLUMN order_id TEXT")
    db.execute("ALTER TABLE upstream_gate ADD COLUMN signed_order TEXT")
    db.execute("CREATE UNIQUE INDEX upstream_gate_order ON upstream_gate (order_id) WHERE order_id IS NOT NULL")


@migration
def m008_observation_reliability(db: sqlite_utils.Database) -> None:
    # Whether the device flagged a reading unreliable (firmware_bridge.flags): such a reading is kept and
    # shown, never the current value, so the current-vitals query asks for each source's newest of both.
    # ADD COLUMN with a constant default rewrites nothing; only readings that carry flags are looked at.
    db.execute("ALTER TABLE observations ADD COLUMN unreliable INTEGER NOT NULL DEFAULT 0")
    marks = sorted(UNRELIABLE)
    db.execute(f"UPDATE observations SET unreliable = 1 WHERE flags IS NOT NULL AND EXISTS "
               f"(SELECT 1 FROM json_each(observations.flags) WHERE value IN ({', '.join('?' * len(marks))}))",
               marks)


@migration
def m009_observation_newest(db: sqlite_utils.Database) -> None:
    # Per encounter, metric, source, device ('' for the crew's entries) and reliability, the newest
    # observation: the current vitals read these few rows instead of ranking the whole record (which
    # grows by thousands of readings an hour). Kept by store/observations.py as rows are stored.
    db.execute("""
        CREATE TABLE observation_newest (
            encounter_id TEXT NOT NULL,
            metric TEXT NOT NULL,
            source TEXT NOT NULL,
            device TEXT NOT NULL,
            unreliable INTEGER NOT NULL,
            obs_id INTEGER NOT NULL,
            received_at INTEGER NOT NULL,
            PRIMARY KEY (encounter_id, metric, source, device, unreliable)
        ) WITHOUT ROWID""")
    db.execute("""
        INSERT INTO observation_newest
        SELECT encounter_id, metric, source, coalesce(device, ''), unreliable, id, received_at FROM (
            SELECT *, row_number() OVER (PARTITION BY encounter_id, metric, source, device, unreliable
                ORDER BY CASE source WHEN 'device' THEN id END DESC, received_at DESC, id DESC) AS rn
            FROM observations WHERE encounter_id IS NOT NULL) WHERE rn = 1""")


@migration
def m010_charted_record(db: sqlite_utils.Database) -> None:
    # The record charts observation sets, not every 1 Hz reading (DESIGN.md): `charted` marks what is in
    # it (every manual entry; a device's current values, copied at an interval or on demand, `copy_of` the
    # reading each copies). The full-rate series is the rows with copy_of NULL. Encounters recorded before
    # this version charted every reading, so theirs stay charted: their records do not change.
    db.execute("ALTER TABLE observations ADD COLUMN charted INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE observations ADD COLUMN copy_of INTEGER")
    db.execute("UPDATE observations SET charted = 1 WHERE encounter_id IS NOT NULL")
    db.execute("CREATE INDEX observations_charted ON observations(encounter_id, id) WHERE charted = 1")
    db.execute("""
        CREATE TABLE chart_sets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            encounter_id TEXT NOT NULL,
            at INTEGER NOT NULL,
            reason TEXT NOT NULL CHECK (reason IN ('interval', 'asked', 'handover')),
            actor TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX chart_sets_by_encounter ON chart_sets(encounter_id, at)")
