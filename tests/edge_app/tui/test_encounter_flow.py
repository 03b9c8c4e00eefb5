"""The cab UI against a real daemon and a simulated oximeter, driven by key presses (journey 1)."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest
from textual.content import Content
from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.widgets import Input, Static

from edge_app.tui.app import VitalsApp
from edge_app.tui.screens.forms import FormScreen
from edge_app.tui.screens.handover import HandoverScreen
from edge_app.tui.screens.prompts import Choice, TextPrompt
from edge_app.tui.shutdown import until_shutdown
from edge_app.tui.widgets.lines import EncounterLine, TimesBar
from edge_app.tui.widgets.news2 import News2Panel
from edge_app.tui.widgets.tiles import VitalTile
from tests.edge_app.tui.conftest import LiveDaemon

SIZE = (100, 30)


async def until(pilot: Pilot[Any], predicate: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    for _ in range(int(timeout / 0.05)):
        if value := predicate():
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def text(app: VitalsApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


def plain(widget: Static) -> str:
    """What a line of keys says, without its markup, as one line wherever it is broken to fit the width."""
    return Content.from_markup(str(widget.content)).plain.replace("\n", " ")


async def open_encounter(pilot: Pilot[Any], app: VitalsApp, ref: str) -> dict[str, Any]:
    await until(pilot, lambda: app.connected, "the stream")
    await pilot.press("n")
    if isinstance(await until(pilot, lambda: app.screen if isinstance(app.screen, (Choice, TextPrompt)) else None,
                              "a prompt"), Choice):
        await pilot.press("y")  # an older test's encounter is still open
    await until(pilot, lambda: isinstance(app.screen, TextPrompt), "the incident ref prompt")
    await pilot.press(*ref, "enter")
    enc = await until(pilot, lambda: app.encounter if app.encounter and app.encounter.incident_ref == ref
                      else None, "the new encounter")
    return msgspec.to_builtins(enc)  # type: ignore[no-any-return]


def api(live: LiveDaemon) -> httpx.Client:
    return live.daemon.client()


async def test_new_encounter_asks_the_ref_and_a_second_n_does_not_open_another(live: LiveDaemon) -> None:
    app = VitalsApp(live.socket)
    async with app.run_test(size=SIZE) as pilot:
        enc = await open_encounter(pilot, app, "INC-7")
        assert "INC-7" in str(app.query_one(EncounterLine).content)
        assert "encounter open since" in str(app.query_one(EncounterLine).content)
        with api(live) as c:
            open_before = len(c.get("/api/v1/encounters", params={"status": "open"}).json())
        await pilot.press("n")
        question = await until(pilot, lambda: isinstance(app.screen, Choice) and text(app, "#choice-question"),
                               "are-you-sure")
        assert "already open (INC-7" in question
        await pilot.press("n")
        await pilot.pause(0.2)
        with api(live) as c:
            assert len(c.get("/api/v1/encounters", params={"status": "open"}).json()) == open_before
        assert app.encounter is not None and app.encounter.id == enc["id"]


async def test_one_key_stamps_a_time_and_asks_before_restamping(live: LiveDaemon) -> None:
    app = VitalsApp(live.socket)
    async with app.run_test(size=SIZE) as pilot:
        enc = await open_encounter(pilot, app, "INC-8")
        await pilot.press("3")  # at scene
        await until(pilot, lambda: app.encounter and app.encounter.times.at_scene, "at scene stamped")
        assert "3 scene --" not in plain(app.query_one(TimesBar))
        with api(live) as c:
            first = c.get(f"/api/v1/encounters/{enc['id']}").json()["times"]["at_scene"]
        assert first is not None
        await pilot.press("3")
        question = await until(pilot, lambda: isinstance(app.screen, Choice) and text(app, "#choice-question"),
                               "re-stamp question")
        assert "at scene is already stamped" in question
        await pilot.press("n")
        await pilot.pause(0.1)
        with api(live) as c:
            assert c.get(f"/api/v1/encounters/{enc['id']}").json()["times"]["at_scene"] == first


async def test_rr_acvpu_and_temperature_move_news2_to_high(live: LiveDaemon) -> None:
    app = VitalsApp(live.socket)
    async with app.run_test(size=SIZE) as pilot:
        await open_encounter(pilot, app, "INC-9")
        panel = app.query_one(News2Panel)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, FormScreen), "the observations form")
        await pilot.press("2", "2", "tab", "c", "enter")  # RR 22, new confusion
        await until(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        await until(pilot, lambda: "RR 22→2" in str(panel.content) and "ACVPU C→3" in str(panel.content),
                    "RR and ACVPU in NEWS2")
        assert "missing:" in str(panel.content) and "temp" in str(panel.content)
        with api(live) as c:
            rows = [o for o in c.get(f"/api/v1/encounters/{app.encounter.id}/observations").json()
                    if o["source"] == "manual"]
        assert sorted(o["metric"] for o in rows) == ["consciousness", "resp_rate"], \
            "air or oxygen left blank is not entered, never 'on air'"
        assert len({o["received_at"] for o in rows}) == 1, "one form, one set of observations, one time"
        await pilot.press("e")
        form = await until(pilot, lambda: app.screen if isinstance(app.screen, FormScreen) else None, "form")
        form.query_one("#f-temperature", Input).value = "39.2"
        form.query_one("#f-bp_systolic", Input).value = "120"
        form.query_one("#f-bp_diastolic", Input).value = "80"
        form.query_one("#f-oxygen_supplement", Input).value = "a"  # on air
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        content = await until(pilot, lambda: "NEWS2 " in (s := str(panel.content)) and "HIGH" in s and s,
                              "a HIGH NEWS2", timeout=8)
        assert "temp 39.2→2" in content and "SpO2 scale 1" in content
        assert panel.has_class("risk-high")
        assert "BP 120/80" in str(app.query_one("#tile-bp .tile-caption", Static).content)


async def test_a_wrong_value_is_said_in_words_and_the_form_stays(live: LiveDaemon) -> None:
    app = VitalsApp(live.socket)
    async with app.run_test(size=SIZE) as pilot:
        await open_encounter(pilot, app, "INC-10")
        await pilot.press("e")
        form = await until(pilot, lambda: app.screen if isinstance(app.screen, FormScreen) else None, "form")
        form.query_one("#f-temperature", Input).value = "60"
        await pilot.press("ctrl+s")
        error = await until(pilot, lambda: "outside" in (s := text(app, "#form-error")) and s, "the 422 in words")
        assert error.startswith("not saved, a value is wrong: temperature: 60 is outside")
        assert isinstance(app.screen, FormScreen)


async def test_handover_shows_atmist_then_summary(live: LiveDaemon) -> None:
    app = VitalsApp(live.socket)
    async with app.run_test(size=SIZE) as pilot:
        await open_encounter(pilot, app, "INC-11")
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, HandoverScreen), "the handover screen")
        atmist = await until(pilot, lambda: "T  " in (s := text(app, "#handover-text")) and s, "ATMIST text")
        assert atmist.startswith("A  Age") and "S  " in atmist
        await pilot.press("s")
        await until(pilot, lambda: "written summary" in text(app, "#handover-title")
                    and text(app, "#handover-text") != atmist, "the summary")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HandoverScreen), "back to vitals")


async def test_conflict_shows_the_current_value_and_lets_the_crew_choose(live: LiveDaemon) -> None:
    app = VitalsApp(live.socket)
    async with app.run_test(size=SIZE) as pilot:
        enc = await open_encounter(pilot, app, "INC-12")
        await pilot.press("i")
        form = await until(pilot, lambda: app.screen if isinstance(app.screen, FormScreen) else None, "form")
        # the tablet in the back names the patient while the cab is typing
        with api(live) as c:
            v = c.get(f"/api/v1/encounters/{enc['id']}").json()["version"]
            assert c.patch(f"/api/v1/encounters/{enc['id']}", json={"patient": {"name": "Ann Smith"}},
                           headers={"If-Match": f'"{v}"'}).status_code == 200
        form.query_one("#f-name", Input).value = "Anne Smyth"
        await pilot.press("ctrl+s")
        question = await until(pilot, lambda: isinstance(app.screen, Choice) and text(app, "#choice-question"),
                               "the conflict question")
        assert "patient.name is now 'Ann Smith'" in question
        await pilot.press("k")
        error = await until(pilot, lambda: "kept" in (s := text(app, "#form-error")) and s, "kept theirs")
        assert error == "not saved: kept patient.name as changed by someone else"
        await pilot.press("ctrl+s")  # the crew has seen it and saves theirs anyway: no conflict now
        await until(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        with api(live) as c:
            assert c.get(f"/api/v1/encounters/{enc['id']}").json()["patient"]["name"] == "Anne Smyth"


async def test_close_hands_over_with_one_key_and_a_choice(live: LiveDaemon) -> None:
    app = VitalsApp(live.socket)
    async with app.run_test(size=SIZE) as pilot:
        enc = await open_encounter(pilot, app, "INC-13")
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, Choice), "the close question")
        await pilot.press("h")
        with api(live) as c:
            await until(pilot, lambda: c.get(f"/api/v1/encounters/{enc['id']}").json()["status"] == "handed_over",
                        "handed over")
            rec = c.get(f"/api/v1/encounters/{enc['id']}").json()
        assert rec["times"]["handover"] is not None
        # That patient leaves the screen: no vitals, no NEWS2, until one is picked or created.
        await until(pilot, lambda: app.encounter is None, "no patient on screen")
        await pilot.pause(0.3)
        assert app.encounter is None
        assert str(app.query_one(News2Panel).content).startswith("NEWS2: no open encounter")
        assert all(t.vital is None for t in app.query(VitalTile))
        await asyncio.sleep(0)


async def test_a_worker_that_wakes_after_the_screens_are_gone_ends_quietly(live: LiveDaemon) -> None:
    """Textual empties the screen stack before it cancels the app's workers: a stream event or an API
    answer arriving in between must end the worker quietly, not fail the app (it did, in CI)."""
    app = VitalsApp(live.socket)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connected, "the stream")
        with pytest.raises(NoMatches):  # a widget missing while the screens are there is a bug: it shows
            await until_shutdown(_missing_widget)(app)
    assert not app.screen_stack
    # The real workers' bodies, woken now: the stream reloads and gets device events; each ends quietly.
    stream_body = VitalsApp.follow_stream.__wrapped__  # type: ignore[attr-defined]
    assert await asyncio.wait_for(stream_body(app), timeout=15) is None
    assert await asyncio.wait_for(VitalsApp.poll_status.__wrapped__(app), timeout=15) is None  # type: ignore[attr-defined]


async def _missing_widget(app: VitalsApp) -> None:
    app.main.query_one("#no-such-widget")
