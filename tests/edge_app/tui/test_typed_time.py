"""A typed HH:MM as the moment it means: today, yesterday just after midnight, refused when it cannot be."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from edge_app.tui.typed_time import given_at

BST = timezone(timedelta(hours=1))
NOW = datetime(2026, 6, 10, 15, 0, 20, 123456, tzinfo=BST)


@pytest.mark.parametrize(("text", "expected"), [
    ("14:32", "2026-06-10T14:32:00+01:00"),
    ("1432", "2026-06-10T14:32:00+01:00"),
    ("9:05", "2026-06-10T09:05:00+01:00"),
    (" 15:04 ", "2026-06-10T15:04:00+01:00"),  # a clock a few minutes ahead of this box's is not "yesterday"
    ("03:00", "2026-06-10T03:00:00+01:00"),
])
def test_a_time_of_day_today(text: str, expected: str) -> None:
    assert given_at(text, NOW) == expected


def test_blank_is_none_which_the_api_takes_as_now() -> None:
    assert given_at("", NOW) is None and given_at("  ", NOW) is None


def test_later_than_now_just_after_midnight_is_yesterday() -> None:
    assert given_at("23:50", NOW.replace(hour=0, minute=10)) == "2026-06-09T23:50:00+01:00"
    assert given_at("22:30", NOW.replace(hour=10, minute=0)) == "2026-06-09T22:30:00+01:00"  # 11.5 h ago
    with pytest.raises(ValueError, match="that would be yesterday, 12 h ago"):
        given_at("21:30", NOW.replace(hour=10, minute=0))


@pytest.mark.parametrize("text", ["25:99", "24:00", "12:60", "ab", "10", "130", "1:2", "12:345", ":"])
def test_not_a_time_of_day_is_said_in_words(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a time of day: type HH:MM, from 00:00 to 23:59"):
        given_at(text, NOW)


def test_a_time_in_the_future_is_refused_not_moved_to_yesterday() -> None:
    """14:32 typed at 14:05 is a typo, not a stamp 23.5 h old: stored, it would land on the wrong day."""
    with pytest.raises(ValueError) as err:
        given_at("15:30", NOW)
    assert str(err.value) == ("15:30 is later than now (15:00); that would be yesterday, 23 h ago: "
                              "check the time")
