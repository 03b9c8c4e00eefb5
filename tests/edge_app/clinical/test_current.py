"""Which observation of a metric is current: device readings by sequence, manual entries by their stated time
(current.newest), so a wall clock stepping back never makes an older reading current."""
from __future__ import annotations

import pytest

from edge_app.clinical.current import in_order, later, newest
from edge_app.model.observation import Observation
from tests.edge_app.clinical.records import MIN, T0, obs

HOUR = 60 * MIN


def device(i: int, value: float, t: int) -> Observation:
    return obs(i, "spo2", value, t, "oximeter")


def manual(i: int, value: float, t: int) -> Observation:
    return obs(i, "spo2", value, t)


def test_newest_of_nothing_and_of_one() -> None:
    row = device(1, 97, T0)
    assert newest(None, None) is None
    assert newest(row, None) is row and newest(None, row) is row


def test_a_device_reading_stored_after_the_entry_wins_whatever_the_clocks_say() -> None:
    entry = manual(1, 90, T0)
    reading = device(2, 93, T0 - HOUR)  # the wall clock stepped back between the two
    assert newest(reading, entry) is reading


def test_an_entry_after_the_reading_wins_unless_back_dated_before_it() -> None:
    reading = device(1, 95, T0 + 10_000)
    assert newest(reading, manual(2, 90, T0 + 5_000)).value == 95   # back-dated to before the reading
    assert newest(reading, manual(3, 91, T0 + 10_000)).value == 91  # at the reading's time: the entry


def test_the_one_case_a_clock_step_still_counts() -> None:
    """Documented in newest(): a reading from before a backward step, a monitor that then says nothing
    more, and an entry made after the step, not back-dated: the reading stays current until the clock
    passes it again."""
    reading = device(1, 95, T0)
    assert newest(reading, manual(2, 90, T0 - HOUR + MIN)) is reading


def test_later_ranks_device_readings_by_sequence() -> None:
    before, after = device(1, 96, T0 + 1000), device(2, 88, T0 + 2000 - HOUR)
    assert later(before, after) is after and later(after, before) is after


def test_later_ranks_manual_entries_by_stated_time_then_id() -> None:
    rr20, rr16 = manual(1, 20, T0 + MIN), manual(2, 16, T0)  # the second entered later, back-dated
    assert later(rr20, rr16) is rr20 and later(rr16, rr20) is rr20
    rr24 = manual(3, 24, T0 + MIN)  # same stated time: the later entry wins
    assert later(rr20, rr24) is rr24 and later(rr24, rr20) is rr24


@pytest.mark.parametrize(("reading_t", "entry_t", "entry_id", "winner"), [
    (T0 + 10_000, T0 + 5_000, 2, "device"),   # entry back-dated before the reading
    (T0 + 10_000, T0 + 10_000, 2, "manual"),  # entry at the reading's time
    (T0 - HOUR, T0, 0, "device"),            # reading stored after the entry (id 0 < 1)
])
def test_later_between_kinds_is_newest_either_way_round(reading_t: int, entry_t: int, entry_id: int,
                                                        winner: str) -> None:
    reading, entry = device(1, 95, reading_t), manual(entry_id, 90, entry_t)
    want = reading if winner == "device" else entry
    assert later(reading, entry) is want and later(entry, reading) is want
    assert newest(reading, entry) is want


def test_in_order_after_the_clock_stepped_back_and_a_back_dated_entry() -> None:
    rows = [device(1, 95, T0 + HOUR), device(2, 88, T0 + MIN),  # clock stepped back an hour after id 1
            manual(3, 91, T0 + 2 * MIN), manual(4, 90, T0)]     # id 4 entered later, back-dated
    # device readings keep their stored order (1 before 2, whatever their times); manual entries go by
    # stated time (4 before 3); the two streams merge by time, so the entries come before the hour-ahead 1
    assert [r.id for r in in_order(reversed(rows))] == [4, 3, 1, 2]
    assert in_order([]) == []
