"""What the keys do to the record: open, pick, stamp, close, and save what the forms gathered.

A mixin of the app so that app.py stays about the screen and the stream. Every call runs in a worker;
a refusal from the API is shown in words, and a 409 conflict shows the current value and lets the crew
choose whose value stands.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from textual import work

from edge_app.model.encounter import Encounter
from edge_app.model.vitals import ChartSet
from edge_app.tui.api import ApiProblem
from edge_app.tui.screens.forms import FormScreen
from edge_app.tui.screens.pick import PickScreen
from edge_app.tui.screens.prompts import Choice, TextPrompt
from edge_app.tui.shutdown import until_shutdown
from edge_app.tui.typed_time import given_at
from edge_app.tui.widgets.lines import TIME_WORDS, hhmm

if TYPE_CHECKING:
    from textual.app import App

    from edge_app.tui.api import Api

    _Base = App[int]  # not VitalsApp: it derives from this class, a cycle mypy cannot resolve
else:
    _Base = object

SEXES = {"m": "male", "f": "female", "o": "other", "u": "unknown"}
NUMERIC_OBS = {"resp_rate": "RR", "temperature": "temperature", "bp_systolic": "BP systolic",
               "bp_diastolic": "BP diastolic", "spo2": "SpO2", "pulse_rate": "pulse"}
GCS_KEYS = ("gcs_eye", "gcs_verbal", "gcs_motor")


def oxygen_letter(on: bool | None) -> str:
    """The form's air/oxygen box for what is recorded: "o", "a", or blank when nobody has said."""
    return "" if on is None else "o" if on else "a"


def field_value(record: Encounter, path: str) -> Any:
    """A field of the record by its path in the API ("patient.sex", "times.at_scene")."""
    value: Any = record
    for part in path.split("."):
        value = getattr(value, part, None)
    return value


def said(path: str, value: Any) -> str:
    """A field's value as the crew reads it: a time stamp as HH:MM, not epoch milliseconds; none as blank."""
    if path.startswith("times."):
        return "not stamped" if value is None else hhmm(value)
    return "blank" if value is None else repr(value)


def number(text: str) -> int | float:
    return int(text) if (text.isascii() and text.isdigit()) else float(text)


class EncounterActions(_Base):
    """Key actions and form savers of VitalsApp."""

    if TYPE_CHECKING:  # what VitalsApp and AtmistEntries bring; mypy checks each matches its definition
        api: Api
        encounter: Encounter | None
        connected: bool
        creating: bool
        pinned: bool

        def set_encounter(self, enc: Encounter | None) -> None: ...
        def clear_patient(self, why: str) -> None: ...
        def on_oxygen(self) -> bool | None: ...
        def stamp_at(self, name: str) -> None: ...

    def _need_encounter(self) -> Encounter | None:
        if self.encounter is None:
            self.notify("no open encounter: press n to start one", severity="warning")
        return self.encounter

    def _path(self, suffix: str = "") -> str:
        assert self.encounter is not None
        return f"/encounters/{self.encounter.id}{suffix}"

    # -- open, pick, close ------------------------------------------------------------------------------
    def action_new_encounter(self) -> None:
        if not self.connected:
            self.notify("the daemon is not reachable; try again in a moment", severity="error")
            return
        if self.creating:
            self.notify("already opening an encounter", severity="warning")
            return
        self.creating = True
        self._new_encounter()

    @work(exclusive=True, group="new-encounter")
    @until_shutdown
    async def _new_encounter(self) -> None:
        try:
            enc = self.encounter
            if enc is not None and enc.status == "open":
                answer = await self.push_screen_wait(Choice(
                    f"An encounter is already open ({enc.incident_ref or 'no incident ref'}, since "
                    f"{hhmm(enc.created_at)}). Open another one for a new patient?",
                    [("y", "yes, new patient"), ("n", "no")]))
                if answer != "y":
                    return
            ref = await self.push_screen_wait(TextPrompt(
                "New encounter: incident reference (blank if none)", placeholder="e.g. INC-1234",
                restrict=r"[\w ./:#-]*", max_length=64))
            if ref is None:
                return
            new = await self.api.post_as(Encounter, "/encounters", {"incident_ref": ref})
            self.pinned = False
            self.set_encounter(new)
            self.notify("new encounter open; device readings now attach to it")
        except ApiProblem as exc:
            self.notify(f"could not open an encounter: {exc}", severity="error")
        finally:
            self.creating = False

    @work(exclusive=True, group="pick")
    @until_shutdown
    async def action_pick(self) -> None:
        try:
            rows = await self.api.get_as(list[Encounter], "/encounters", status="open", limit=50)
        except ApiProblem as exc:
            self.notify(str(exc), severity="error")
            return
        picked = await self.push_screen_wait(PickScreen(rows))
        if picked is not None:
            self.pinned = not picked.active
            self.set_encounter(picked)

    @work(exclusive=True, group="close")
    @until_shutdown
    async def action_close(self) -> None:
        if (enc := self._need_encounter()) is None:
            return
        answer = await self.push_screen_wait(Choice(
            f"Encounter {enc.incident_ref} is {enc.status.replace('_', ' ')}. Change it to:",
            [("h", "handed over (stamps handover)"), ("c", "closed: final, stamps clear")]))
        if answer is None:
            return
        status, stamp = ("handed_over", "handover") if answer == "h" else ("closed", "clear")
        try:
            if not getattr(enc.times, stamp):
                self.set_encounter(await self.api.post_as(Encounter, self._path(f"/times/{stamp}")))
        except ApiProblem as exc:
            self.notify(str(exc), severity="error")
            return
        problem = await self.patch_encounter({"status": status})
        if problem:
            self.notify(problem, severity="error")
        else:
            self.clear_patient(f"encounter {status.replace('_', ' ')}")

    @work(exclusive=True, group="chart")
    @until_shutdown
    async def action_chart(self) -> None:
        """Chart the devices' current values into the record now (they are charted every few minutes too)."""
        if self._need_encounter() is None:
            return
        try:
            got = await self.api.post_as(ChartSet, self._path("/chart"), {})
        except ApiProblem as exc:
            self.notify(str(exc), severity="warning")
            return
        self.notify("charted: " + ", ".join(f"{o.metric} {o.value:g}" if isinstance(o.value, int | float)
                                            else f"{o.metric} {o.value}" for o in got.observations))

    # -- one key each -----------------------------------------------------------------------------------
    @work(group="stamp")
    @until_shutdown
    async def action_stamp(self, name: str) -> None:
        if (enc := self._need_encounter()) is None:
            return
        words = TIME_WORDS[name]
        if getattr(enc.times, name):
            answer = await self.push_screen_wait(Choice(
                f"{words} is already stamped {hhmm(getattr(enc.times, name))}. Stamp it again?",
                [("y", "yes, now"), ("t", "at a time I type"), ("n", "no, keep it")]))
            if answer == "t":
                self.stamp_at(name)
            if answer != "y":
                return
        try:
            self.set_encounter(await self.api.post_as(Encounter, self._path(f"/times/{name}")))
            self.notify(f"{words} {hhmm(getattr(self.encounter.times, name) if self.encounter else None)}")
        except ApiProblem as exc:
            self.notify(f"{words} not stamped: {exc}", severity="error")

    @work(group="oxygen")
    @until_shutdown
    async def action_oxygen(self) -> None:
        if self._need_encounter() is None:
            return
        on = not bool(self.on_oxygen())
        try:
            await self.api.post(self._path("/observations"), {"metric": "oxygen_supplement", "value": on})
            self.notify("ON OXYGEN" if on else "on air (oxygen off)")
        except ApiProblem as exc:
            self.notify(str(exc), severity="error")

    @work(exclusive=True, group="scale")
    @until_shutdown
    async def action_scale(self) -> None:
        if (enc := self._need_encounter()) is None:
            return
        other, version = (1 if enc.spo2_scale == 2 else 2), enc.version
        why = ("prescribed 88-92% target, e.g. COPD with hypercapnic respiratory failure" if other == 2
               else "the usual scale")
        answer = await self.push_screen_wait(Choice(
            f"SpO2 scale {enc.spo2_scale} is in use. Switch NEWS2 to scale {other} ({why})?",
            [("y", f"yes, scale {other}"), ("n", "no")]))
        if answer == "y":
            problem = await self.patch_encounter({"spo2_scale": other}, version)
            self.notify(problem or f"NEWS2 now uses SpO2 scale {other}", severity="error" if problem else "information")

    async def patch_encounter(self, changes: dict[str, Any], version: int | None = None) -> str | None:
        """PATCH with If-Match (the version the crew looked at); on a conflict show the current value and
        let the crew choose."""
        if self.encounter is None:
            return "no open encounter"
        version = self.encounter.version if version is None else version
        while True:
            try:
                self.set_encounter(await self.api.patch_encounter(self._path(), changes, version))
                return None
            except ApiProblem as exc:
                if not exc.conflict:
                    return str(exc)
                current, fields = exc.current, exc.fields
                self.set_encounter(current)
                now = "; ".join(f"{f} is now {said(f, field_value(current, f))}" for f in fields)
                answer = await self.push_screen_wait(Choice(
                    f"Someone else changed this since you read it: {now}. Keep theirs, or overwrite with yours?",
                    [("k", "keep theirs"), ("o", "overwrite with mine")]))
                if answer != "o":
                    return f"not saved: kept {', '.join(fields)} as changed by someone else"
                version = current.version

    # -- forms ------------------------------------------------------------------------------------------
    def action_form(self, which: str) -> None:
        # lazy: a screen's module when its key is first pressed (TUI start-up time)
        from edge_app.tui.screens import forms

        enc = self._need_encounter()
        if enc is None:
            return
        if which == "observations":
            self.push_screen(FormScreen("Observations (blank: not entered)", forms.OBSERVATION_FIELDS,
                                        self.save_observations, {"oxygen_supplement": oxygen_letter(self.on_oxygen())}))
        elif which == "medication":
            self.push_screen(FormScreen("Drug given", forms.MEDICATION_FIELDS, self.save_medication))
        elif which == "note":
            self.push_screen(FormScreen("Note", forms.NOTE_FIELDS, self.save_note))
        elif which == "patient":
            p = enc.patient
            initial = {**msgspec.structs.asdict(p), "sex": (p.sex or "")[:1], "allergies": ", ".join(p.allergies),
                       "_version": enc.version}  # changes made by others after this are conflicts
            self.push_screen(FormScreen("Patient details", forms.PATIENT_FIELDS, self.save_patient, initial))

    async def save_observations(self, values: dict[str, Any], form: FormScreen) -> str | None:
        posts: list[tuple[str, Any]] = []
        for key, label in NUMERIC_OBS.items():
            if text := values[key]:
                try:
                    posts.append((key, number(text)))
                except ValueError:
                    return f"{label}: {text!r} is not a number"
        if values["consciousness"]:
            posts.insert(1, ("consciousness", values["consciousness"].upper()))
        o2 = values["oxygen_supplement"].lower()
        if o2 and o2 != (form.initial.get("oxygen_supplement") or ""):  # blank: not entered (never "air")
            posts.append(("oxygen_supplement", o2 == "o"))
        gcs = [values[k].upper() for k in GCS_KEYS]
        if any(gcs) and not all(gcs):
            return "GCS: give eye, verbal and motor (a score or NT each)"
        saved: list[str] = []
        at = int(time.time() * 1000)  # one set of observations, one time: NEWS2's trend makes one step of it
        try:
            for metric, value in posts:
                await self.api.post(self._path("/observations"), {"metric": metric, "value": value, "time": at})
                saved.append(metric)
            if all(gcs):
                eye, verbal, motor = ("NT" if g.startswith("N") else int(g) for g in gcs)
                await self.api.post(self._path("/gcs"), {"eye": eye, "verbal": verbal, "motor": motor, "time": at})
                saved += GCS_KEYS
        except ApiProblem as exc:
            form.clear(saved)
            form.initial["oxygen_supplement"] = oxygen_letter(self.on_oxygen())
            done = f"saved {', '.join(saved)}; " if saved else ""
            return f"{done}{exc}"
        return None

    async def save_medication(self, values: dict[str, Any], form: FormScreen) -> str | None:
        try:
            dose = number(values["dose"])
        except ValueError:
            return "the dose must be a number"
        try:
            when = given_at(values["time"], datetime.now().astimezone())
        except ValueError as exc:
            return f"given at: {exc}"
        body = {"drug": values["drug"], "dose": dose, "unit": values["unit"], "route": values["route"], "time": when}
        if not all((values["drug"], values["unit"], values["route"])):
            return "give the drug, the dose, its unit and the route"
        try:
            await self.api.post(self._path("/medications"), body)
        except ApiProblem as exc:
            return str(exc)
        self.notify(f"{values['drug']} {values['dose']} {values['unit']} {values['route']} recorded")
        return None

    async def save_note(self, values: dict[str, Any], form: FormScreen) -> str | None:
        if not values["text"]:
            return "the note is empty"
        try:
            await self.api.post(self._path("/notes"), {"text": values["text"]})
        except ApiProblem as exc:
            return str(exc)
        return None

    async def save_patient(self, values: dict[str, Any], form: FormScreen) -> str | None:
        old = form.initial
        patch: dict[str, Any] = {}
        for key in ("name", "date_of_birth", "nhs_number"):
            if values[key] != str(old.get(key) or ""):
                patch[key] = values[key] or None
        if values["estimated_age"] != str(old.get("estimated_age") or ""):
            patch["estimated_age"] = int(values["estimated_age"]) if values["estimated_age"] else None
        if values["sex"].lower() != old.get("sex", ""):
            patch["sex"] = SEXES.get(values["sex"].lower())
        if values["allergies"] != old.get("allergies", ""):
            patch["allergies"] = [a.strip() for a in values["allergies"].split(",") if a.strip()]
        if not patch:
            return None
        problem = await self.patch_encounter({"patient": patch}, form.initial["_version"])
        if problem and self.encounter is not None:
            form.initial["_version"] = self.encounter.version  # the crew has now seen the other change
        return problem

    def action_pair_tablet(self) -> None:
        # lazy: a screen's module when its key is first pressed (TUI start-up time)
        from edge_app.tui.screens.pairing import PairingScreen

        self.push_screen(PairingScreen(self.api))

    def action_handover(self) -> None:
        # lazy: a screen's module when its key is first pressed (TUI start-up time)
        from edge_app.tui.screens.handover import HandoverScreen

        if self._need_encounter() is not None:
            self.push_screen(HandoverScreen(self.fetch_handover))

    async def fetch_handover(self, fmt: str) -> str:
        text: str = await self.api.get(self._path("/handover"), format=fmt)
        return text

