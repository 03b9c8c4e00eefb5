"""The first cab screen under Textual's Pilot: ages in words, a missing daemon said plainly."""
from __future__ import annotations

import time
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Static

from edge_app.tui.app import VitalsApp
from edge_app.tui.widgets.tiles import VitalTile
from tests.edge_app.tui.vitals import other, vital


class OneTile(App[None]):
    def compose(self) -> ComposeResult:
        yield VitalTile("SpO2", ("spo2",), "%", id="t")


def caption(app: App[None]) -> str:
    return str(app.query_one("#t .tile-caption", Static).content)


async def test_tile_says_live_stale_unreliable_and_no_data_in_words() -> None:
    app = OneTile()
    async with app.run_test(size=(60, 12)) as pilot:
        tile = app.query_one(VitalTile)
        assert caption(app) == "SpO2: no data"
        now = time.time()
        t = int(now * 1000) - 2000
        tile.show(vital("spo2", 97, t, fresh_for_s=10))
        tile.now = now
        await pilot.pause()
        assert caption(app) == "SpO2 97 % · 2 s\noximeter" and tile.has_class("live")
        # no word from the daemon for longer than the value's window: stale by this screen's own clock
        tile.now = now + 15
        await pilot.pause()
        assert caption(app).startswith("SpO2 97 % STALE 17 s") and tile.has_class("stale")
        # the daemon says stale: so it is, whatever the age
        tile.show(vital("spo2", 97, t, state="stale"))
        tile.now = now
        await pilot.pause()
        assert caption(app).startswith("SpO2 97 % STALE 2 s") and tile.has_class("stale")
        tile.show(vital("spo2", None, None, None, state="unreliable", flags=["sensor_off"],
                        others=[other("oximeter", 61, t, reliable=False, flags=["sensor_off"])]))
        await pilot.pause()
        assert caption(app) == "SpO2: NO RELIABLE READING (sensor_off)\nalso oximeter: sensor_off"
        assert tile.has_class("nodata")


async def test_tile_shows_what_another_source_says_when_it_differs() -> None:
    app = OneTile()
    async with app.run_test(size=(60, 12)) as pilot:
        tile = app.query_one(VitalTile)
        now = time.time()
        t = int(now * 1000)
        tile.show(vital("spo2", 88, t, "manual", others=[other("oximeter", 97, t), other("spare", 88, t)]))
        tile.now = now
        await pilot.pause()
        assert caption(app) == "SpO2 88 % · 0 s\nmanual\nalso oximeter 97"


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


def test_trend_gap_sits_below_the_data() -> None:
    from collections import deque

    from edge_app.tui.widgets.tiles import TREND_BUCKETS, trend_buckets

    now = 10_000.0
    points = deque([(now - 800, 96.0), (now - 790, 97.0), (now - 100, 95.0)])  # unplugged in between
    data = trend_buckets(points, now)
    assert len(data) == TREND_BUCKETS and min(data) < 95 and data.count(min(data)) == TREND_BUCKETS - 2


def test_news2_says_band_scale_parameters_and_missing_in_words() -> None:
    from msgspec.structs import replace

    from edge_app.model.news2 import News2, News2Parameters
    from edge_app.tui.widgets.news2 import news2_lines

    params = News2Parameters(resp_rate=2, spo2=0, oxygen_supplement=0, bp_systolic=0, pulse=0, consciousness=3,
                             temperature=2)
    t = 1_790_000_000_000
    doc = News2(total=7, risk="high", risk_at_least="high", scale=2, parameters=params, missing=[], stale=[],
                red_score=True, response="emergency", oldest_input_time=t - 180_000,
                inputs={"resp_rate": vital("resp_rate", 22, t, "manual"),
                        "temperature": vital("temperature", 39.2, t, "manual"),
                        "consciousness": vital("consciousness", "C", t, "manual")})
    text, cls = news2_lines(doc, t)
    assert text.startswith("NEWS2 7 HIGH · RED SCORE (a 3) · SpO2 scale 2 (88-92% target) · oldest input 3 min")
    assert cls == "risk-high"
    assert "RR 22→2" in text and "temp 39.2→2" in text and "ACVPU C→3" in text
    partial = replace(doc, total=None, risk=None, risk_at_least="medium",
                      parameters=replace(params, bp_systolic=None, resp_rate=None),
                      missing=["resp_rate", "bp_systolic"], stale=["resp_rate"])
    text, cls = news2_lines(partial, t)
    assert text.startswith("NEWS2 INCOMPLETE · at least MEDIUM · RED SCORE (a 3)") and cls == "risk-medium"
    assert text.endswith("missing: BP · stale: RR")
    low = replace(partial, risk_at_least="low", red_score=False)
    assert news2_lines(low, t)[1] == "risk-none"
    child = replace(doc, total=None, warning="patient is 9: NEWS2 does not apply under 16")
    assert news2_lines(child)[0].startswith("NEWS2 NOT SCORED: patient is 9")


def test_a_line_of_keys_ends_between_entries_never_inside_one() -> None:
    from edge_app.tui.widgets.lines import fit

    entries = (("[b]a[/] x", 3), ("[b]b[/] yy", 4), ("[b]c[/] zzzz", 6))
    assert fit(entries, 9, "  ") == "[b]a[/] x  [b]b[/] yy\n[b]c[/] zzzz"
    assert fit(entries, 5, " ") == "[b]a[/] x\n[b]b[/] yy\n[b]c[/] zzzz", "one too wide for a line gets its own"
    assert fit(entries, 0, "  ") == "[b]a[/] x  [b]b[/] yy  [b]c[/] zzzz", "no width yet: one line"


async def test_every_main_key_is_listed_at_80x24_and_night_day_toggle(tmp_path: Path) -> None:
    from edge_app.tui.widgets.lines import KeyBar, TimesBar

    def on_screen(widget: Static) -> list[str]:
        return [widget.render_line(y).text for y in range(widget.size.height)]

    app = VitalsApp(tmp_path / "api.sock")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        keys = on_screen(app.query_one(KeyBar))
        for word in ("n New", "p Pick", "e Obs", "o O2 on/off", "m Drug", "a Intervention", "w Note", "i Patient",
                     "c Complaint", "s Scale", "k Chart", "v Handover", "x Close", "t Pair",
                     "d Theme", "q Quit"):
            assert any(word in line for line in keys), f"{word!r} on one line, beside its key: {keys}"
        assert len(keys) == 2, f"two lines at 80 columns, so the device table keeps its rows: {keys}"
        times = on_screen(app.query_one(TimesBar))
        for word in ("3 scene --", "7 handover --", "0 type times"):
            assert any(word in line for line in times), f"{word!r} on one line: {times}"
        assert app.query_one(KeyBar).region.bottom == 24, "the key legend is on screen at 80x24"
        assert app.theme == "edge-night"
        await pilot.press("d")
        assert app.theme == "edge-day"
