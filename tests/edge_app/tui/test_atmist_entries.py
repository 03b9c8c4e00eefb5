"""The whole ATMIST from the cab against a real daemon: complaint and injuries, interventions, time stamps
at a time the crew states; each checked in the record through the API and on the handover screen."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from edge_app.clinical.handover import hhmm as handover_hhmm
from edge_app.tui.actions import said
from edge_app.tui.app import VitalsApp
from edge_app.tui.screens.forms import FormScreen
from edge_app.tui.screens.handover import HandoverScreen
from edge_app.tui.screens.prompts import Choice
from edge_app.tui.widgets.lines import TimesBar, hhmm
from tests.edge_app.tui.conftest import LiveDaemon
from tests.edge_app.tui.test_encounter_flow import SIZE, api, open_encounter, plain, text, until


def minutes_ago(n: int) -> tuple[str, int]:
    """What the crew types for n minutes ago ("14:32"), and the epoch ms it must be stored as."""
    at = (datetime.now().astimezone() - timedelta(minutes=n)).replace(second=0, microsecond=0)
    return at.strftime("%H:%M"), int(at.timestamp() * 1000)


def handover_time(ms: int) -> str:
    """A time as the handover says it now (UTC in the test daemon; with its date when it was yesterday)."""
    return handover_hhmm(ms, int(datetime.now(UTC).timestamp() * 1000))


async def a_form(pilot: Pilot[Any], app: VitalsApp, key: str) -> FormScreen:
    await pilot.press(key)
    form: FormScreen = await until(pilot, lambda: app.screen if isinstance(app.screen, FormScreen) else None,
                                   f"the form of {key}")
    return form


def record(live: LiveDaemon, enc: dict[str, Any]) -> dict[str, Any]:
    with api(live) as c:
        doc: dict[str, Any] = c.get(f"/api/v1/encounters/{enc['id']}").json()
    return doc


async def test_complaint_injuries_and_an_intervention_at_a_typed_time_are_read_at_handover(
        live: LiveDaemon) -> None:
    app = VitalsApp(live.socket)
    async with app.run_test(size=SIZE) as pilot:
        enc = await open_encounter(pilot, app, "INC-21")
        form = await a_form(pilot, app, "c")
        assert form.title_text == "Complaint or mechanism, injuries and onset (ATMIST M, I and T)"
        onset, onset_ms = minutes_ago(40)
        await pilot.press(*"fall from 2 m ladder", "tab", *"deformed left wrist", "tab", *onset, "enter")
        await until(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        rec = record(live, enc)
        assert (rec["complaint"], rec["injuries"], rec["onset"]) == ("fall from 2 m ladder", "deformed left wrist",
                                                                     onset_ms)

        typed, at_ms = minutes_ago(7)
        await a_form(pilot, app, "a")
        await pilot.press(*"splint left wrist", "tab", *typed, "tab", *"JS", "enter")
        await until(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        [done] = record(live, enc)["interventions"]
        assert (done["what"], done["time"], done["by"]) == ("splint left wrist", at_ms, "JS")

        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, HandoverScreen), "the handover screen")
        atmist = await until(pilot, lambda: "T  " in (s := text(app, "#handover-text")) and s, "ATMIST text")
        assert "M  Mechanism/complaint: fall from 2 m ladder" in atmist
        assert "I  Injuries: deformed left wrist" in atmist
        assert f"T  onset {handover_time(onset_ms)}; " in atmist
        assert f"splint left wrist at {handover_time(at_ms)} (by JS)" in atmist
        # Reading it out, the crew finds more: c works on the handover screen, and the form shows what is
        # recorded, so the crew edits rather than retypes; back on the handover, the text says it.
        form = await a_form(pilot, app, "c")
        assert form.values() == {"complaint": "fall from 2 m ladder", "injuries": "deformed left wrist",
                                 "onset": onset}
        form.query_one("#f-injuries", Input).focus()
        await pilot.press("end", *", graze to forehead", "enter")
        await until(pilot, lambda: isinstance(app.screen, HandoverScreen), "back on the handover screen")
        await until(pilot, lambda: "I  Injuries: deformed left wrist, graze to forehead"
                    in text(app, "#handover-text"), "the handover read again")
        assert record(live, enc)["complaint"] == "fall from 2 m ladder"


async def test_a_complaint_changed_meanwhile_is_shown_and_the_crew_chooses(live: LiveDaemon) -> None:
    app = VitalsApp(live.socket)
    async with app.run_test(size=SIZE) as pilot:
        enc = await open_encounter(pilot, app, "INC-22")
        form = await a_form(pilot, app, "c")
        with api(live) as c:  # the tablet in the back records the complaint while the cab is typing
            assert c.patch(f"/api/v1/encounters/{enc['id']}", json={"complaint": "chest pain"},
                           headers={"If-Match": f'"{enc["version"]}"'}).status_code == 200
        form.query_one("#f-complaint", Input).value = "central chest pain radiating to jaw"
        await pilot.press("ctrl+s")
        question = await until(pilot, lambda: isinstance(app.screen, Choice)
                               and text(app, "#choice-question"), "the conflict question")
        assert "complaint is now 'chest pain'" in question
        await pilot.press("k")
        error = await until(pilot, lambda: "kept" in (s := text(app, "#form-error")) and s, "kept theirs")
        assert error == "not saved: kept complaint as changed by someone else"
        assert record(live, enc)["complaint"] == "chest pain"
        with api(live) as c:  # and again, before the crew saves a second time
            v = record(live, enc)["version"]
            assert c.patch(f"/api/v1/encounters/{enc['id']}", json={"complaint": "chest pain 1 h"},
                           headers={"If-Match": f'"{v}"'}).status_code == 200
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, Choice), "the second conflict question")
        assert "complaint is now 'chest pain 1 h'" in text(app, "#choice-question")
        await pilot.press("o")
        await until(pilot, lambda: not isinstance(app.screen, (Choice, FormScreen)), "the form to close")
        rec = record(live, enc)
        assert rec["complaint"] == "central chest pain radiating to jaw" and rec["injuries"] is None


async def test_a_stamped_time_key_offers_a_typed_time(live: LiveDaemon) -> None:
    app = VitalsApp(live.socket)
    async with app.run_test(size=SIZE) as pilot:
        enc = await open_encounter(pilot, app, "INC-23")
        await pilot.press("4")  # at patient, now
        await until(pilot, lambda: app.encounter and app.encounter.times.at_patient, "at patient")
        await pilot.press("4")  # ... but the crew reached the patient earlier
        question = await until(pilot, lambda: isinstance(app.screen, Choice)
                               and text(app, "#choice-question"), "the re-stamp question")
        assert "at patient is already stamped" in question
        await pilot.press("t")
        form = await until(pilot, lambda: isinstance(app.screen, FormScreen) and app.screen, "the form")
        assert form.title_text == "Stamp at patient at (HH:MM, 24 h; later than now means yesterday)"
        typed, at_ms = minutes_ago(12)
        await pilot.press(*typed, "enter")
        await until(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        assert record(live, enc)["times"]["at_patient"] == at_ms
        await until(pilot, lambda: f"4 patient  {typed}  5 left" in plain(app.query_one(TimesBar)),
                    "the stated time on the times line")


async def test_the_times_form_stamps_times_not_yet_stamped_and_a_bad_one_saves_none(live: LiveDaemon) -> None:
    app = VitalsApp(live.socket)
    async with app.run_test(size=SIZE) as pilot:
        enc = await open_encounter(pilot, app, "INC-24")
        await pilot.press("1")  # the call, stamped now: the form shows it
        await until(pilot, lambda: app.encounter and app.encounter.times.call, "call stamped")
        call = record(live, enc)["times"]["call"]
        form = await a_form(pilot, app, "0")
        assert form.query_one("#f-call", Input).value == datetime.fromtimestamp(call / 1000).strftime("%H:%M")
        assert form.query_one("#f-at_scene", Input).value == ""
        scene, scene_ms = minutes_ago(20)
        form.query_one("#f-at_scene", Input).focus()
        await pilot.press(*scene)
        form.query_one("#f-at_patient", Input).focus()
        await pilot.press(*"25:99", "enter")
        error = await until(pilot, lambda: (s := text(app, "#form-error")) not in ("", "saving…") and s,
                            "the error")
        assert error == "at patient: '25:99' is not a time of day: type HH:MM, from 00:00 to 23:59"
        await pilot.press(*"ab")  # letters do not go in
        assert form.query_one("#f-at_patient", Input).value == "25:99"
        form.query_one("#f-at_patient", Input).value = "2:3"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "'2:3' is not a time of day" in text(app, "#form-error"), "the 2nd error")
        assert isinstance(app.screen, FormScreen)
        times = record(live, enc)["times"]
        assert (times["call"], times["at_scene"], times["at_patient"]) == (call, None, None), "nothing saved"
        form.query_one("#f-at_patient", Input).value = ""
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        times = record(live, enc)["times"]
        assert (times["call"], times["at_scene"], times["at_patient"]) == (call, scene_ms, None)


def test_a_conflict_says_values_in_words_a_time_as_hhmm_not_epoch_milliseconds() -> None:
    assert said("times.at_scene", 1_780_000_000_000) == hhmm(1_780_000_000_000)
    assert said("times.at_scene", None) == "not stamped"
    assert said("complaint", "chest pain") == "'chest pain'" and said("injuries", None) == "blank"
