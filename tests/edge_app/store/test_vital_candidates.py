"""The store's vital_candidates: per metric and source, the newest reliable and newest unreliable reading.
current_vitals() over them must give exactly what it gives over the whole record, whatever the clocks did.
The rule itself is tested pure in tests/edge_app/clinical/test_vitals.py; these check the query."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_app.clinical.assess import news2_of, news2_trend
from edge_app.clinical.vitals import VitalsRules, current_vitals
from edge_app.model.observation import NewObservation
from edge_app.store import encounters
from edge_app.store import observations as records
from edge_app.store.connection import open_db
from edge_app.store.queries import Reader
from edge_app.store.writer import Writer

T0 = 1_790_000_000_000  # some afternoon, epoch ms
HOUR = 3_600_000
RULES = VitalsRules(device_order=("oximeter", "spare"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Writer, Reader, str]]:
    writer = Writer(tmp_path / "edge.db")
    reader = Reader(tmp_path / "edge.db")
    eid = writer.submit(encounters.create_encounter(T0, "test")).result(5)
    yield writer, reader, eid
    reader.close()
    writer.close()


def device(writer: Writer, metric: str, value: float, t: int, name: str = "oximeter",
           flags: tuple[str, ...] = ()) -> int:
    o = NewObservation(metric=metric, value=value, unit="%", received_at=t, source="device", device=name, flags=flags)
    [oid] = writer.submit(records.insert_device_observations([o])).result(5)
    return oid


def manual(writer: Writer, eid: str, metric: str, value: float | str | bool, t: int) -> int:
    o = NewObservation(metric=metric, value=value, unit="", received_at=t, source="manual", entered_by="crew")
    [oid] = writer.submit(records.insert_manual_observations(eid, [o], "crew")).result(5)
    return oid


def same_answer(reader: Reader, eid: str, now: int) -> dict:
    """The vitals from the candidates, checked against the vitals from every observation."""
    got = current_vitals(reader.vital_candidates(eid), RULES, now)
    assert got == current_vitals(reader.observations(encounter_id=eid), RULES, now)
    return got


def test_device_readings_by_sequence_when_the_clock_steps_back(store) -> None:
    writer, reader, eid = store
    device(writer, "spo2", 97, T0)
    device(writer, "spo2", 96, T0 + 1000)
    # NTP steps the box's clock back an hour; the monitor goes on, the patient desaturates
    after = device(writer, "spo2", 88, T0 + 2000 - HOUR)
    v = same_answer(reader, eid, T0 + 3000 - HOUR)["spo2"]
    assert (v.observation_id, v.value, v.state) == (after, 88, "current")


def test_manual_entries_by_their_stated_time(store) -> None:
    writer, reader, eid = store
    rr20 = manual(writer, eid, "resp_rate", 20, T0 + 60_000)
    manual(writer, eid, "resp_rate", 16, T0)  # entered later, back-dated to before the other: not current
    assert same_answer(reader, eid, T0 + 90_000)["resp_rate"].observation_id == rr20
    rr24 = manual(writer, eid, "resp_rate", 24, T0 + 60_000)  # same stated time: the later entry wins
    assert same_answer(reader, eid, T0 + 90_000)["resp_rate"].observation_id == rr24


def test_unreliable_readings_are_marked_when_stored_and_never_current(store) -> None:
    writer, reader, eid = store
    good = device(writer, "spo2", 96, T0)
    off = device(writer, "spo2", 60, T0 + 1000, flags=("sensor_off",))
    device(writer, "spo2", 97, T0 + 1000, name="spare")
    device(writer, "pulse_rate", 80, T0 + 1000, flags=("spo2_low",))  # information only
    db = open_db(reader.path, readonly=True)
    marks = dict(db.execute("SELECT id, unreliable FROM observations").fetchall())
    assert marks[good] == 0 and marks[off] == 1 and sorted(marks.values()) == [0, 0, 0, 1]
    v = same_answer(reader, eid, T0 + 2000)
    assert (v["spo2"].value, v["spo2"].source) == (97, "spare")
    assert [(o.source, o.value, o.reliable) for o in v["spo2"].others] == [("oximeter", 60, False)]
    assert v["pulse_rate"].state == "current"


def test_manual_and_device_together_and_news2_from_them(store) -> None:
    writer, reader, eid = store
    for metric, value in (("resp_rate", 16), ("bp_systolic", 120), ("temperature", 37.0), ("consciousness", "A"),
                          ("oxygen_supplement", False)):
        manual(writer, eid, metric, value, T0)
    device(writer, "pulse_rate", 70, T0 + 1000)
    device(writer, "spo2", 97, T0 + 1000)  # NEWS2 0
    device(writer, "spo2", 88, T0 + 2000 - HOUR)  # after the clock stepped back: SpO2 88 scores 3
    vitals = same_answer(reader, eid, T0 + 3000 - HOUR)
    current = news2_of(vitals, 1)
    assert current.total == 3 and current.parameters.spo2 == 3
    trend = news2_trend(reader.observations(encounter_id=eid), 1, None)
    assert [total for _, total in trend] == [0, 3]


def test_a_database_from_before_the_rule_is_upgraded_to_the_same_answer(tmp_path: Path) -> None:
    """m008 marks stored readings unreliable from their flags; m009 indexes each source's newest."""
    from edge_app.store.migrations import MIGRATIONS, migrate

    db = open_db(tmp_path / "edge.db")
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
    for name, fn in MIGRATIONS:
        if name.startswith(("m008", "m009")):
            break
        fn(db)
        db.execute("INSERT INTO _migrations VALUES (?, 0)", (name,))
    db.execute("INSERT INTO encounters (id, incident_ref, status, spo2_scale, created_at, updated_at, version, record) "
               "SELECT 'e1', '', 'open', 1, 0, 0, 1, '{}'")
    rows = [("spo2", 96, T0, "device", "oximeter", None), ("spo2", 60, T0 + 1000, "device", "oximeter", '["sensor_off"]'),
            ("spo2", 97, T0 + 1000, "device", "spare", None), ("resp_rate", 20, T0 + 60_000, "manual", None, None),
            ("resp_rate", 16, T0, "manual", None, None)]
    db.conn.executemany("INSERT INTO observations (encounter_id, metric, value, unit, received_at, source, device, "
                        "flags) VALUES ('e1', ?, ?, '', ?, ?, ?, ?)", rows)
    db.conn.commit()
    assert migrate(db)[:2] == ["m008_observation_reliability", "m009_observation_newest"]
    db.close()
    reader = Reader(tmp_path / "edge.db")
    try:
        assert sorted(o.id for o in reader.vital_candidates("e1")) == [1, 2, 3, 4]
        v = same_answer(reader, "e1", T0 + 90_000)
        assert (v["spo2"].source, v["resp_rate"].value) == ("spare", 20)
        assert [(o.source, o.reliable) for o in v["spo2"].others] == [("oximeter", False)]
    finally:
        reader.close()
