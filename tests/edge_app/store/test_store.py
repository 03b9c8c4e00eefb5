"""The store: migrations, group commit, attachment to the active encounter, audit chain."""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import msgspec
import pytest

from edge_app.errors import NotFoundError, StoreError
from edge_app.model.observation import NewObservation
from edge_app.store import audit, encounters
from edge_app.store import observations as obs_ops
from edge_app.store.connection import open_db
from edge_app.store.migrations import MIGRATIONS, current_version, migrate
from edge_app.store.audit import verify_audit_chain
from edge_app.store.queries import Reader, integrity_check
from edge_app.store.writer import Writer


@pytest.fixture
def store(tmp_path: Path):
    writer = Writer(tmp_path / "edge.db")
    reader = Reader(tmp_path / "edge.db")
    yield writer, reader
    reader.close()
    writer.close()


def obs(metric: str = "spo2", value: float = 97, t: int = 1_000, device: str | None = "oximeter") -> NewObservation:
    return NewObservation(metric=metric, value=value, unit="%", received_at=t, source="device", device=device)


def test_pragmas_and_migrations(tmp_path: Path) -> None:
    w = Writer(tmp_path / "edge.db")
    try:
        assert w.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert w.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert current_version(w.db) == [n for n, _ in MIGRATIONS]
        assert {"devices", "encounters", "observations", "audit_log"} <= set(w.db.table_names())
        assert migrate(w.db) == []  # idempotent
    finally:
        w.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    db = open_db(tmp_path / "edge.db")
    migrate(db)
    db.execute("INSERT INTO _migrations VALUES ('m999_future', 0)")
    with pytest.raises(StoreError, match="newer edge-app"):
        migrate(db)


def test_group_commit_batches_concurrent_writers(store) -> None:
    writer, reader = store
    gate = threading.Event()
    writer.submit(lambda db: gate.wait(5))  # hold the writer so the others queue up behind it
    futures = []

    def submit_many() -> None:
        for i in range(200):
            futures.append(writer.submit(obs_ops.insert_device_observations([obs(t=i)])))

    threads = [threading.Thread(target=submit_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    before = writer.batches
    gate.set()
    ids = [f.result(5)[0] for f in futures]
    assert len(set(ids)) == 800
    assert writer.batches - before <= 3, "800 queued ops should commit in a handful of transactions"
    assert reader.counts()["observations"] == 800


def test_one_failing_op_does_not_sink_the_batch(store) -> None:
    writer, reader = store
    gate = threading.Event()
    writer.submit(lambda db: gate.wait(5))
    good1 = writer.submit(obs_ops.insert_device_observations([obs()]))
    bad = writer.submit(lambda db: db.execute("INSERT INTO nowhere VALUES (1)"))
    good2 = writer.submit(obs_ops.insert_device_observations([obs()]))
    gate.set()
    assert good1.result(5) and good2.result(5)
    with pytest.raises(sqlite3.OperationalError):
        bad.result(5)
    assert reader.counts()["observations"] == 2


def test_readings_attach_to_newest_open_encounter_else_unassigned(store) -> None:
    writer, reader = store
    writer.submit(obs_ops.insert_device_observations([obs(t=1)])).result(5)
    e1 = writer.submit(encounters.create_encounter(10, "test", "INC-1")).result(5)
    e2 = writer.submit(encounters.create_encounter(20, "test", "INC-2")).result(5)
    writer.submit(obs_ops.insert_device_observations([obs(t=30)])).result(5)
    writer.submit(encounters.change_encounter(e2, {"status": "closed"}, 40, "test")).result(5)
    writer.submit(obs_ops.insert_device_observations([obs(t=50)])).result(5)
    writer.submit(encounters.change_encounter(e1, {"status": "handed_over"}, 60, "test")).result(5)
    writer.submit(obs_ops.insert_device_observations([obs(t=70)])).result(5)
    assert [o.received_at for o in reader.observations(unassigned=True)] == [1, 70]
    assert [o.received_at for o in reader.observations(encounter_id=e2)] == [30]
    assert [o.received_at for o in reader.observations(encounter_id=e1)] == [50]
    assert reader.active_encounter_id() is None


def test_version_conflict_carries_current(store) -> None:
    writer, reader = store
    eid = writer.submit(encounters.create_encounter(10, "test")).result(5)
    writer.submit(encounters.change_encounter(eid, {"spo2_scale": 2}, 11, "tablet-a", if_version=1)).result(5)
    with pytest.raises(encounters.VersionConflict) as err:
        writer.submit(encounters.change_encounter(eid, {"spo2_scale": 1}, 12, "tablet-b", if_version=1)).result(5)
    assert err.value.current.spo2_scale == 2 and err.value.current.version == 2
    assert err.value.fields == ["spo2_scale"]
    # a stale version is fine for a field nobody else touched since
    rec = writer.submit(encounters.change_encounter(eid, {"patient.sex": "female"}, 13, "tablet-b", if_version=1)
                        ).result(5)
    assert rec.patient.sex == "female" and rec.spo2_scale == 2 and rec.version == 3
    with pytest.raises(NotFoundError):
        writer.submit(encounters.change_encounter("nope", {}, 12, "x")).result(5)


def test_values_keep_their_kind(store) -> None:
    writer, reader = store
    eid = writer.submit(encounters.create_encounter(10, "test")).result(5)
    for metric, value in (("consciousness", "C"), ("oxygen_supplement", True), ("temperature", 39.2),
                          ("resp_rate", 22.0)):
        o = NewObservation(metric=metric, value=value, unit="", received_at=11, source="manual")
        writer.submit(obs_ops.insert_manual_observations(eid, [o], "test")).result(5)
    got = {o.metric: o.value for o in reader.observations(encounter_id=eid)}
    assert got == {"consciousness": "C", "oxygen_supplement": True, "temperature": 39.2, "resp_rate": 22}
    assert type(got["resp_rate"]) is int and type(got["oxygen_supplement"]) is bool


def test_audit_chain_detects_tampering(store, tmp_path: Path) -> None:
    writer, reader = store
    eid = writer.submit(encounters.create_encounter(10, "test")).result(5)
    writer.submit(encounters.change_encounter(eid, {"incident_ref": "INC-9"}, 11, "test")).result(5)
    writer.submit(audit.audit_op(12, "test", "encounter.read", eid)).result(5)
    assert verify_audit_chain(reader.db) == (3, None)
    assert integrity_check(reader.db) == ["ok"]
    writer.submit(lambda db: db.execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = 2")).result(5)
    assert verify_audit_chain(reader.db) == (2, 2)


def test_readonly_reader_never_creates_a_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Reader(tmp_path / "missing.db").counts()
    assert not (tmp_path / "missing.db").exists()


def test_consecutive_device_inserts_are_merged_with_correct_ids(store) -> None:
    writer, reader = store
    gate = threading.Event()
    writer.submit(lambda db: gate.wait(5))
    futs = [writer.submit(obs_ops.insert_device_observations([obs(t=i), obs("pulse_rate", 80, t=i)]))
            for i in range(50)]
    manual_in_between = writer.submit(encounters.create_encounter(10_000, "test"))
    futs += [writer.submit(obs_ops.insert_device_observations([obs(t=100 + i)])) for i in range(10)]
    gate.set()
    ids = [f.result(5) for f in futs]
    eid = manual_in_between.result(5)
    for i, got in enumerate(ids):
        for oid in got:
            row = reader.observation(oid)
            assert row.received_at == (i if i < 50 else 100 + i - 50)
            assert row.encounter_id == (None if i < 50 else eid)
    assert [len(x) for x in ids] == [2] * 50 + [1] * 10


def test_a_failed_merged_run_falls_back_to_single_ops(store) -> None:
    writer, reader = store
    gate = threading.Event()
    writer.submit(lambda db: gate.wait(5))
    good = writer.submit(obs_ops.insert_device_observations([obs(t=1)]))
    # a NOT NULL violation (value None) fails the merged executemany; the good op must still land
    bad = writer.submit(obs_ops.insert_device_observations([obs(value=None, t=2)]))  # type: ignore[arg-type]
    gate.set()
    assert len(good.result(5)) == 1
    with pytest.raises(sqlite3.IntegrityError):
        bad.result(5)
    assert [o.received_at for o in reader.observations()] == [1]


def test_record_is_the_fold_of_its_events(store) -> None:
    from edge_app.store.encounter_record import fold

    writer, reader = store
    eid = writer.submit(encounters.create_encounter(10, "cab", "INC-1")).result(5)
    writer.submit(encounters.change_encounter(eid, {"patient.name": "Ann Example", "times.at_scene": 20,
                                                    "complaint": "chest pain"}, 21, "cab")).result(5)
    writer.submit(encounters.append_item(eid, "medications_given", {"drug": "aspirin", "dose": 300, "unit": "mg",
                                                                    "route": "oral", "time": 30, "given_by": None},
                                         31, "tablet")).result(5)
    writer.submit(encounters.change_encounter(eid, {"status": "handed_over"}, 40, "cab")).result(5)
    projected = reader.encounter(eid)
    folded = fold(reader.events(eid), eid)
    assert {k: v for k, v in msgspec.structs.asdict(projected).items()
            if k not in ("active", "observation_count")} == msgspec.structs.asdict(folded)
    assert folded.medications_given[0].drug == "aspirin" and folded.version == 4
    with pytest.raises(encounters.RecordClosed):
        writer.submit(encounters.change_encounter(eid, {"status": "open"}, 41, "cab")).result(5)
    writer.submit(encounters.change_encounter(eid, {"status": "closed"}, 42, "cab")).result(5)
    with pytest.raises(encounters.RecordClosed):
        writer.submit(encounters.append_item(eid, "notes", {"text": "late", "time": 43}, 43, "cab")).result(5)
    assert len(reader.events(eid)) == 7  # create, three fields, one append, two status changes


@pytest.mark.parametrize("tamper", [
    "DELETE FROM audit_log WHERE id = 2",
    "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)",
    "UPDATE audit_log SET at = at + 1 WHERE id = 1",
    "UPDATE audit_log SET id = 99 WHERE id = 1",
])
def test_audit_chain_detects_removed_changed_and_reordered_rows(store, tamper: str) -> None:
    writer, reader = store
    eid = writer.submit(encounters.create_encounter(10, "test")).result(5)
    for i in range(3):
        writer.submit(audit.audit_op(20 + i, "tablet", "encounter.read", eid)).result(5)
    assert verify_audit_chain(reader.db)[1] is None
    writer.submit(lambda db: db.execute(tamper)).result(5)
    assert verify_audit_chain(reader.db)[1] is not None


def test_retention_purges_only_closed_and_acknowledged_records(store) -> None:
    writer, reader = store
    day = 86_400_000
    now = 100 * day
    ids = {}
    for name, status, acked in (("acked", "closed", True), ("unacked", "closed", False), ("open", "open", True)):
        eid = writer.submit(encounters.create_encounter(1 * day, "test", name)).result(5)
        writer.submit(obs_ops.insert_manual_observations(eid, [obs(t=day + 1)], "test")).result(5)
        if status == "closed":
            writer.submit(encounters.change_encounter(eid, {"status": "closed"}, 2 * day, "test")).result(5)
        if acked:
            writer.submit(lambda db, e=eid: db.execute("UPDATE encounters SET upstream_acked_at = ? WHERE id = ?",
                                                       (3 * day, e))).result(5)
        ids[name] = eid
    assert writer.submit(encounters.purge_expired(now, 30)).result(5) == [ids["acked"]]
    assert {e.incident_ref for e in reader.encounters()} == {"unacked", "open"}
    assert reader.observations(encounter_id=ids["acked"]) == []
    assert len(reader.observations(encounter_id=ids["unacked"])) == 1
    assert writer.submit(encounters.purge_expired(now, 30)).result(5) == []
    assert verify_audit_chain(reader.db)[1] is None


def test_ops_submitted_later_go_in_with_the_next_commit(store) -> None:
    """The audit row of a read makes no commit of its own while other writes come: it goes in with the next."""
    writer, reader = store
    eid = writer.submit(encounters.create_encounter(10, "test")).result(5)
    gate, busy = threading.Event(), threading.Event()
    writer.submit(lambda db: busy.set() or gate.wait(5))  # the writer busy (a commit under way) while reads come
    assert busy.wait(5)
    batches = writer.batches
    for i in range(50):
        writer.submit_later(audit.audit_op(20 + i, "tablet", "encounter.read", eid), "audit row")
    reading = writer.submit(obs_ops.insert_device_observations([obs(t=30)]))
    gate.set()
    reading.result(5)
    assert writer.batches == batches + 2, "the busy one, then one commit for the reading and the 50 audit rows"
    rows = reader.db.execute("SELECT at FROM audit_log WHERE action = 'encounter.read' ORDER BY id").fetchall()
    assert [r[0] for r in rows] == list(range(20, 70))
    assert verify_audit_chain(reader.db) == (51, None)


def test_an_op_submitted_later_is_committed_within_the_deadline_when_nothing_else_comes(store) -> None:
    from edge_app.store.writer import LATER_S

    writer, reader = store
    eid = writer.submit(encounters.create_encounter(10, "test")).result(5)
    for expected in (2, 3):  # the second once the writer had gone back to waiting with no deadline
        writer.submit_later(audit.audit_op(20 + expected, "tablet", "encounter.read", eid))
        deadline = time.monotonic() + LATER_S + 5
        while verify_audit_chain(reader.db)[0] < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert verify_audit_chain(reader.db) == (expected, None)


def test_ops_submitted_later_are_committed_at_close_and_failures_are_logged(tmp_path: Path, caplog) -> None:
    writer = Writer(tmp_path / "edge.db")
    for i in range(3):
        writer.submit_later(audit.audit_op(20 + i, "tablet", "encounter.list", None), "audit row")

    def broken(db: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    writer.submit_later(broken, "audit row")
    writer.close()
    writer.submit_later(audit.audit_op(30, "tablet", "encounter.list", None), "audit row")
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == ["audit row not stored: disk I/O error", "audit row not stored: store is closed"]
    db = open_db(tmp_path / "edge.db", readonly=True)
    try:
        assert verify_audit_chain(db) == (3, None)
    finally:
        db.close()


def test_merged_audit_rows_chain_as_single_ones(store) -> None:
    """Consecutive audit ops merged into one executemany make the same chain, head included."""
    writer, reader = store
    gate = threading.Event()
    writer.submit(lambda db: gate.wait(5))
    futs = [writer.submit(audit.audit_op(20 + i, "tablet", "encounter.read", "e", {"n": i})) for i in range(20)]
    gate.set()
    for f in futs:
        f.result(5)
    assert verify_audit_chain(reader.db) == (20, None)
    writer.submit(lambda db: audit.append_audit(db, 99, "x", "y", None, None)).result(5)
    assert verify_audit_chain(reader.db) == (21, None)


def test_observation_counts_stay_exact_as_readings_come(store) -> None:
    """The Reader keeps each encounter's observation count and counts only what was stored since."""
    writer, reader = store
    first = writer.submit(encounters.create_encounter(10, "test")).result(5)
    assert not reader.count_known(first)
    assert reader.encounter(first).observation_count == 0 and reader.count_known(first)
    writer.submit(obs_ops.insert_device_observations([obs(t=i) for i in range(30)])).result(5)
    assert reader.encounter(first).observation_count == 30
    second = writer.submit(encounters.create_encounter(20, "test")).result(5)  # readings go to it now
    writer.submit(obs_ops.insert_device_observations([obs(t=100 + i) for i in range(7)])).result(5)
    writer.submit(obs_ops.insert_manual_observations(first, [obs(t=50, device=None)], "crew")).result(5)
    writer.submit(obs_ops.insert_device_observations([obs(device=None, t=200)])).result(5)
    assert reader.encounter(first).observation_count == 31
    assert [(e.id, e.observation_count, e.active) for e in reader.encounters()] == [
        (second, 8, True), (first, 31, False)]
    other = Reader(reader.path)  # counted from scratch: the same
    try:
        assert [e.observation_count for e in other.encounters()] == [8, 31]
        assert other.encounter(second).observation_count == 8
    finally:
        other.close()
    with pytest.raises(NotFoundError):
        reader.encounter("no-such-encounter")


def _hold(writer: Writer) -> threading.Event:
    """Keep the writer busy inside a commit until the returned event is set: what comes meanwhile is one batch."""
    gate, busy = threading.Event(), threading.Event()
    writer.submit(lambda db: busy.set() or gate.wait(5))
    assert busy.wait(5)
    return gate


def _orphan(db) -> None:
    """An op that succeeds but makes its batch's COMMIT fail (a deferred foreign key), as a full disk would."""
    db.execute("PRAGMA defer_foreign_keys = ON")
    db.execute("INSERT INTO observations (encounter_id, metric, value, unit, received_at, source) "
               "VALUES ('no-such-encounter', 'spo2', 97, '%', 1, 'manual')")


def test_submit_then_reports_only_what_a_commit_made_durable(store, tmp_path: Path) -> None:
    """Callbacks run after the COMMIT (another connection already sees the rows); a bad op fails alone; a
    failed COMMIT fails every op of its batch and stores none of them."""
    writer, reader = store
    got: list[tuple[str, object, object, int]] = []

    def on_done(op, ids, exc) -> None:
        other = open_db(tmp_path / "edge.db", readonly=True)  # what a reader sees at this moment
        try:
            visible = other.execute("SELECT count(*) FROM observations").fetchone()[0]
        finally:
            other.close()
        got.append((op.obs[0].metric, ids, exc, visible))

    gate = _hold(writer)
    writer.submit_then(obs_ops.insert_device_observations([obs(t=1), obs("pulse_rate", 80, t=1)]), on_done)
    bad = writer.submit(lambda db: db.execute("INSERT INTO nowhere VALUES (1)"))
    writer.submit_then(obs_ops.insert_device_observations([obs("perfusion_index", 3.2, t=2)]), on_done)
    gate.set()
    with pytest.raises(sqlite3.OperationalError):
        bad.result(5)
    assert writer.ping()
    assert [(m, list(ids), exc, visible) for m, ids, exc, visible in got] == [
        ("spo2", [1, 2], None, 3), ("perfusion_index", [3], None, 3)]

    got.clear()
    gate = _hold(writer)
    writer.submit_then(obs_ops.insert_device_observations([obs(t=3)]), on_done)
    failing = writer.submit(_orphan)
    gate.set()
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        failing.result(5)
    assert writer.ping()
    assert len(got) == 1 and got[0][1] is None and isinstance(got[0][2], StoreError)
    assert reader.counts()["observations"] == 3


def test_a_failing_callback_does_not_stop_the_writer(store, caplog) -> None:
    writer, reader = store

    def broken(op, ids, exc) -> None:
        raise ValueError("bug in a callback")

    writer.submit_then(obs_ops.insert_device_observations([obs()]), broken)
    assert writer.ping() and writer.alive()
    assert reader.counts()["observations"] == 1
    assert any("store callback" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")


def test_device_readings_of_a_failed_commit_are_kept_and_stored_once_on_retry(store) -> None:
    """The daemon's path (DeviceSupervisor.store): counted once committed; held and stored exactly once when
    their commit failed."""
    from edge_app.config import DeviceConfig
    from edge_app.daemon.devices import DeviceSupervisor
    from edge_app.services.hub import Hub

    writer, reader = store
    sup = DeviceSupervisor(DeviceConfig(name="oximeter", protocol="masimo-ascii", port="/dev/null"), writer, Hub())
    sup.store([obs(t=1), obs("pulse_rate", 80, t=1)])
    assert writer.ping()
    assert (sup.committed, sup.store_failures) == (2, 0)
    gate = _hold(writer)
    sup.store([obs(t=2), obs("pulse_rate", 81, t=2)])
    failing = writer.submit(_orphan)
    gate.set()
    with pytest.raises(StoreError):
        failing.result(5)
    assert writer.ping()
    assert (sup.committed, sup.store_failures, len(sup._unstored)) == (2, 1, 2)
    assert sup.retry_unstored() == 2
    assert writer.ping()
    assert (sup.committed, len(sup._unstored), sup.dropped) == (4, 0, 0)
    stored = sorted((o.received_at, o.metric, o.value) for o in reader.observations())
    assert stored == [(1, "pulse_rate", 80), (1, "spo2", 97), (2, "pulse_rate", 81), (2, "spo2", 97)]
