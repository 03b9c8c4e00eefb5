"""The first cab screen under Textual's Pilot: ages in words, a missing daemon said plainly."""
from __future__ import annotations

import time
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Static

from edge_app.tui.app import VitalsApp
from edge_app.tui.tiles import VitalTile


class OneTile(App[None]):
    def compose(self) -> ComposeResult:
        yield VitalTile("SpO2", ("spo2",), "%", id="t")


def caption(app: App[None]) -> str:
    return str(app.query_one("#t .tile-caption", Static).content)


async def test_tile_says_live_stale_and_no_data_in_words() -> None:
    app = OneTile()
    async with app.run_test(size=(60, 12)) as pilot:
        tile = app.query_one(VitalTile)
        assert caption(app) == "SpO2: no data"
        now = time.time()
        tile.reading = {"value": 97, "unit": "%", "time": int(now * 1000) - 2000, "device": "oximeter", "flags": []}
        tile.now = now
        await pilot.pause()
        assert caption(app) == "SpO2 97 % · 2 s\noximeter" and tile.has_class("live")
        tile.now = now + 15
        await pilot.pause()
        assert caption(app).startswith("SpO2 97 % STALE 17 s") and tile.has_class("stale")
        tile.now = now + 70
        await pilot.pause()
        assert caption(app) == "SpO2: no data (last 97 %, 72 s ago)" and tile.has_class("nodata")


async def test_missing_daemon_is_said_in_words(tmp_path: Path) -> None:
    app = VitalsApp(tmp_path / "api.sock")
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(50):
            await pilot.pause(0.05)
            text = str(app.query_one("#conn", Static).content)
            if "NOT RUNNING" in text:
                break
        assert text.startswith("DAEMON NOT RUNNING: values below are not live"), text
        await pilot.press("n")
        await pilot.pause(0.1)
        assert any("not reachable" in str(n.message) for n in app._notifications), "n tells the crew why nothing happened"
