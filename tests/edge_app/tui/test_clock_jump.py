"""The cab screen when the wall clock steps back (NTP, GPS): an old value never looks live, the tiles show
what the daemon's one rule says is current (which ranks a device's readings by sequence: see
tests/edge_app/store/test_vital_candidates.py), and trend points from before the step do not come back
into the trend an hour later."""
from __future__ import annotations

import time
from pathlib import Path
import msgspec
from textual.app import App, ComposeResult
from textual.widgets import Static

from edge_app.model.devices import LatestValue
from edge_app.model.encounter import Encounter
from edge_app.model.events import DeviceChanged, LiveReading, VitalsChanged
from edge_app.model.news2 import News2, News2Parameters
from edge_app.tui.app import VitalsApp
from edge_app.tui.widgets.devices import DeviceTable
from edge_app.tui.widgets.tiles import TREND_S, VitalTile
from tests.edge_app.clinical.records import record
from tests.edge_app.tui.vitals import vital

HOUR_S = 3600


class OneTable(App[None]):
    def compose(self) -> ComposeResult:
        yield DeviceTable(id="devices")


class OneTile(App[None]):
    def compose(self) -> ComposeResult:
        yield VitalTile("SpO2", ("spo2",), "%", id="t")


def device_event(name: str, latest: dict[str, LatestValue], last_frame_at: int | None = None) -> DeviceChanged:
    return DeviceChanged(name=name, protocol="masimo-ascii", port="/dev/ttyOX", state="connected", detail="",
                         since=None, last_frame_at=last_frame_at, status_flags=[], counters={}, latest=latest)


def spo2(value: int, t: int) -> dict[str, LatestValue]:
    return {"spo2": LatestValue(value=value, unit="%", time=t, device_time=None, flags=[])}


async def test_a_value_does_not_look_live_after_the_clock_stepped_back() -> None:
    app = OneTile()
    async with app.run_test(size=(60, 12)) as pilot:
        tile = app.query_one(VitalTile)
        now = time.time()
        tile.show(vital("spo2", 97, int(now * 1000) - 2000, fresh_for_s=10))
        tile.now = now
        await pilot.pause()
        assert tile.has_class("live")
        # 15 s later by the monotonic clock, but the wall clock was stepped back an hour meanwhile: by
        # the wall clock alone the value would be 0 s old (in the future, clamped) and live for an hour
        at, age_then = tile._arrived
        tile._arrived = (at - 15, age_then)
        tile.now = now + 15 - HOUR_S
        await pilot.pause()
        assert str(app.query_one("#t .tile-caption", Static).content).startswith("SpO2 97 % STALE 17 s")
        assert tile.has_class("stale")


async def test_the_tiles_show_the_vitals_event_and_readings_only_feed_the_trend(tmp_path: Path) -> None:
    app = VitalsApp(tmp_path / "api.sock")  # no daemon: events are fed by hand
    async with app.run_test(size=(80, 24)) as pilot:
        app.encounter = Encounter(**msgspec.structs.asdict(record(id="e1")), active=True, observation_count=0)
        tile = app.main.query_one("#tile-spo2", VitalTile)
        t = int(time.time() * 1000)
        app._on_event(LiveReading(device="ox", metric="spo2", value=97, unit="%", time=t, device_time=None,
                                  flags=[]))
        await pilot.pause()
        assert tile.vital is None and len(tile.points) == 1, "a reading is a trend point, not the number"
        # after the clock stepped back, the daemon's rule says the monitor's newest is current
        stepped = t - HOUR_S * 1000 + 1000
        vitals = {"spo2": vital("spo2", 88, stepped, "ox"), "pulse_rate": vital("pulse_rate", 130, stepped, "ox"),
                  "heart_rate": vital("heart_rate", 90, t - 600_000, "ecg", state="stale")}
        app._on_event(VitalsChanged(encounter_id="e1", at=t, vitals=vitals, news2=news2_none()))
        await pilot.pause()
        assert tile.vital is not None and tile.vital.value == 88
        pulse = app.main.query_one("#tile-pulse", VitalTile)
        assert pulse.vital is not None and (pulse.vital.metric, pulse.vital.value) == ("pulse_rate", 130), \
            "the pulse NEWS2 scores: the fresh pulse_rate, not the stale heart_rate"
        # another encounter's vitals are not this screen's
        app._on_event(VitalsChanged(encounter_id="e2", at=t, vitals={"spo2": vital("spo2", 70, t)},
                                    news2=news2_none()))
        await pilot.pause()
        assert tile.vital.value == 88


def news2_none() -> News2:
    return News2(total=None, risk=None, risk_at_least=None, scale=1,
                 parameters=News2Parameters(None, None, None, None, None, None, None), missing=[], stale=[],
                 red_score=False, response="", inputs={}, oldest_input_time=None)


async def test_trend_points_from_before_a_backward_step_are_dropped() -> None:
    app = OneTile()
    async with app.run_test(size=(60, 12)):
        tile = app.query_one(VitalTile)
        now = time.time()
        for i in range(10):  # readings up to the step, then the clock is an hour behind them
            tile.add_point(int((now + HOUR_S - 60 + i) * 1000), 97)
        for i in range(5):
            tile.add_point(int((now - 5 + i) * 1000), 88)
        tile.refresh_trend(now)
        assert [v for _, v in tile.points] == [88.0] * 5
        tile.add_point(int((now - TREND_S - 1) * 1000), 90)  # and one too old for the trend
        tile.refresh_trend(now)
        assert len(tile.points) == 5


async def test_device_last_frame_age_never_negative_after_a_backward_step() -> None:
    app = OneTable()
    async with app.run_test(size=(80, 8)):
        table = app.query_one(DeviceTable)
        now = time.time()
        table.devices["ox"] = device_event("ox", {}, last_frame_at=int(now * 1000) - 4000)
        table.draw(now)
        assert table.get_cell("ox", "last") == "4 s ago"
        # the monitor went silent; 20 s later by the monotonic clock the wall clock is stepped back an hour:
        # by the wall clock its last frame would be "-3580 s" old
        last, at, age_then = table._seen["ox"]
        table._seen["ox"] = (last, at - 20, age_then)
        table.draw(now + 20 - HOUR_S)
        assert table.get_cell("ox", "last") == "24 s ago"
        # it sends again: a frame with the corrected (earlier) time is just now
        table.devices["ox"] = msgspec.structs.replace(table.devices["ox"], last_frame_at=int((now + 21 - HOUR_S) * 1000))
        table.draw(now + 21 - HOUR_S)
        assert table.get_cell("ox", "last") == "0 s ago"
