"""Snapshots of the cab screen with nothing live (the daemon down), day and night, at 80x24 and 120x40.

Deterministic on purpose: with no daemon nothing on screen depends on time or data. The live screens
are tested by behaviour (test_encounter_flow.py) and in tmux (tests/e2e/test_demo.py).
Update after an intended change: ./dev test tests/edge_app/tui/test_snapshots.py --snapshot-update
"""
from __future__ import annotations

from pathlib import Path

import pytest

from edge_app.tui.app import VitalsApp

SOCKET = Path("/nonexistent/edge-app/api.sock")


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_main_screen_daemon_down(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(VitalsApp(SOCKET), terminal_size=size, run_before=settle)


def test_main_screen_night_theme(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(VitalsApp(SOCKET), press=["d"], terminal_size=(80, 24), run_before=settle)
