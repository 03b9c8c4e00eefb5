"""Which value of a metric is the latest: device readings by sequence, manual entries by their stated time
(the rule of clinical.current.newest), so a wall clock stepping back never makes an older reading "latest".
The rule itself is tested pure in tests/edge_app/clinical/test_current.py; these check the store's query."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_app.clinical.assess import news2_of, news2_trend
from edge_app.model.observation import NewObservation
from edge_app.store import encounters
from edge_app.store import observations as records
from edge_app.store.queries import Reader
from edge_app.store.writer import Writer

T0 = 1_790_000_000_000  # some afternoon, epoch ms
HOUR = 3_600_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Writer, Reader, str]]:
    writer = Writer(tmp_path / "edge.db")
    reader = Reader(tmp_path / "edge.db")
    eid = writer.submit(encounters.create_encounter(T0, "test")).result(5)
    yield writer, reader, eid
    reader.close()
    writer.close()


def device(writer: Writer, metric: str, value: float, t: int, name: str = "oximeter") -> int:
    o = NewObservation(metric=metric, value=value, unit="%", received_at=t, source="device",
                               device=name)
    [oid] = writer.submit(records.insert_device_observations([o])).result(5)
    return oid


def manual(writer: Writer, eid: str, metric: str, value: float, t: int) -> int:
    o = NewObservation(metric=metric, value=value, unit="%", received_at=t, source="manual",
                               entered_by="crew")
    [oid] = writer.submit(records.insert_manual_observations(eid, [o], "crew")).result(5)
    return oid


def latest(reader: Reader, eid: str, metric: str) -> tuple[int, float]:
    row = reader.latest_values(eid)[metric]
    return row.id, row.value


def test_device_readings_rank_by_sequence_when_the_clock_steps_back(store) -> None:
    writer, reader, eid = store
    device(writer, "spo2", 97, T0)
    before = device(writer, "spo2", 96, T0 + 1000)
    assert latest(reader, eid, "spo2") == (before, 96)
    # NTP steps the box's clock back an hour; the monitor goes on, the patient desaturates
    after = device(writer, "spo2", 88, T0 + 2000 - HOUR)
    assert latest(reader, eid, "spo2") == (after, 88)
    # and per metric: another metric's old reading is still its latest
    pulse = device(writer, "pulse_rate", 70, T0 + 500)
    assert latest(reader, eid, "pulse_rate") == (pulse, 70)


def test_manual_entries_rank_by_their_stated_time(store) -> None:
    writer, reader, eid = store
    rr20 = manual(writer, eid, "resp_rate", 20, T0 + 60_000)
    manual(writer, eid, "resp_rate", 16, T0)  # entered later, back-dated to before the other: not latest
    assert latest(reader, eid, "resp_rate") == (rr20, 20)
    rr24 = manual(writer, eid, "resp_rate", 24, T0 + 60_000)  # same stated time: the later entry wins
    assert latest(reader, eid, "resp_rate") == (rr24, 24)


def test_between_kinds(store) -> None:
    writer, reader, eid = store
    d95 = device(writer, "spo2", 95, T0 + 10_000)
    # an entry back-dated to before the reading does not override it
    manual(writer, eid, "spo2", 90, T0 + 5_000)
    assert latest(reader, eid, "spo2") == (d95, 95)
    # an entry at or after the reading's time does
    m91 = manual(writer, eid, "spo2", 91, T0 + 10_000)
    assert latest(reader, eid, "spo2") == (m91, 91)
    # a reading stored after the entry wins, even with an earlier time (the clock stepped back meanwhile)
    d93 = device(writer, "spo2", 93, T0 + 10_000 - HOUR)
    assert latest(reader, eid, "spo2") == (d93, 93)


def test_the_one_case_a_clock_step_still_counts(store) -> None:
    """Documented in newest(): a reading from before a backward step, a monitor that then says nothing
    more, and an entry made after the step, not back-dated: the entry's stated time is earlier than the
    reading's, and nothing else tells an entry made later from one back-dated, so the reading stays
    latest until the clock passes it again."""
    writer, reader, eid = store
    d95 = device(writer, "spo2", 95, T0)
    manual(writer, eid, "spo2", 90, T0 - HOUR + 60_000)
    assert latest(reader, eid, "spo2") == (d95, 95)


def test_news2_trend_replays_in_sequence_and_ends_at_the_current_news2(store) -> None:
    writer, reader, eid = store
    for metric, value in (("resp_rate", 16), ("bp_systolic", 120), ("temperature", 37.0)):
        manual(writer, eid, metric, value, T0)
    for metric, value in (("consciousness", "A"), ("oxygen_supplement", False)):
        o = NewObservation(metric=metric, value=value, unit="", received_at=T0, source="manual")
        writer.submit(records.insert_manual_observations(eid, [o], "crew")).result(5)
    device(writer, "pulse_rate", 70, T0 + 1000)
    device(writer, "spo2", 97, T0 + 1000)  # NEWS2 0
    device(writer, "spo2", 88, T0 + 2000 - HOUR)  # after the clock stepped back: SpO2 88 scores 3
    observations = reader.observations(encounter_id=eid)
    current = news2_of(reader.latest_values(eid), 1)
    assert current.total == 3 and current.parameters.spo2 == 3
    trend = news2_trend(observations, 1, None)
    assert [total for _, total in trend] == [0, 3]
    assert trend[-1] == (T0 + 2000 - HOUR, 3)
