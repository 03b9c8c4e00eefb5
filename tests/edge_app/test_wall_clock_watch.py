"""The daemon notices the wall clock being stepped (it only logs it: order is kept by sequence anyway)."""
from __future__ import annotations

import logging

import pytest

from edge_app.daemon.devices import WallClockWatch


def test_steps_are_told_from_time_passing(caplog: pytest.LogCaptureFixture) -> None:
    watch = WallClockWatch()
    wall = 1_790_000_000_000
    with caplog.at_level(logging.WARNING, logger="edge_app.daemon.devices"):
        assert watch.check(wall, 0) == 0  # the first check only sets the baseline
        assert watch.check(wall + 1_000, 1_000) == 0  # a second passed on both clocks
        assert watch.check(wall + 1_500, 2_500) == 0  # a slewed or jittery clock, under the threshold
        assert watch.check(wall + 3_000 - 3_600_000, 4_000) == -3_600_000
        assert watch.check(wall + 4_000 - 3_600_000 + 60_000, 5_000) == 60_000
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "the wall clock was stepped back by 3600.0 s", "the wall clock was stepped forward by 60.0 s"]
