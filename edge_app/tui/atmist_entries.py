"""The parts of the ATMIST handover the other keys do not reach: the complaint or mechanism and the
injuries (M, I), interventions (T), and time stamps at a stated time (a stamp made late: "at patient was
14:32").

A mixin of the app like actions.py, kept apart so each stays small. Changes to the encounter's own fields
(complaint, injuries, times) go through patch_encounter with the version the crew saw when the form
opened, so another writer's change in between is shown and the crew chooses; that is also why stated
times are one PATCH of every box that changed, not one POST per stamp: a bad box saves nothing.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from edge_app.model.encounter import TIMES, Encounter, Intervention
from edge_app.tui.api import ApiProblem
from edge_app.tui.screens import forms
from edge_app.tui.screens.forms import FormScreen
from edge_app.tui.typed_time import RULE, given_at
from edge_app.tui.widgets.lines import TIME_WORDS, hhmm

if TYPE_CHECKING:
    from textual.app import App

    from edge_app.tui.api import Api

    _Base = App[int]  # not VitalsApp: it derives from this class, a cycle mypy cannot resolve
else:
    _Base = object


class AtmistEntries(_Base):
    """Key actions and form savers of VitalsApp for complaint, injuries, interventions and stated times."""

    if TYPE_CHECKING:  # what VitalsApp and EncounterActions bring; mypy checks each matches its definition
        api: Api
        encounter: Encounter | None

        def _need_encounter(self) -> Encounter | None: ...
        def _path(self, suffix: str = "") -> str: ...
        async def patch_encounter(self, changes: dict[str, Any], version: int | None = None) -> str | None: ...

    def action_complaint(self) -> None:
        if (enc := self._need_encounter()) is None:
            return
        initial = {"complaint": enc.complaint or "", "injuries": enc.injuries or "",
                   "onset": hhmm(enc.onset) if enc.onset is not None else "",
                   "_version": enc.version}  # changes made by others after this are conflicts
        self.push_screen(FormScreen("Complaint or mechanism, injuries and onset (ATMIST M, I and T)",
                                    forms.COMPLAINT_FIELDS, self.save_complaint, initial))

    def action_intervention(self) -> None:
        if self._need_encounter() is not None:
            self.push_screen(FormScreen(f"Intervention done (time: {RULE})", forms.INTERVENTION_FIELDS,
                                        self.save_intervention))

    def action_times(self) -> None:
        """Every time stamp in one form, each box holding what is stamped: to stamp late or correct one."""
        if (enc := self._need_encounter()) is None:
            return
        initial: dict[str, Any] = {name: hhmm(at) for name in TIMES if (at := getattr(enc.times, name))}
        initial["_version"] = enc.version
        self.push_screen(FormScreen(f"Time stamps ({RULE}; erase one to clear a wrong stamp)",
                                    forms.time_fields(), self.save_times, initial))

    def stamp_at(self, name: str) -> None:
        """One time stamp at a time the crew types: the third answer when a stamped time's key is pressed."""
        if (enc := self._need_encounter()) is None:
            return
        self.push_screen(FormScreen(f"Stamp {TIME_WORDS[name]} at ({RULE})", forms.time_fields((name,)),
                                    self.save_times, {"_version": enc.version}))

    async def save_complaint(self, values: dict[str, Any], form: FormScreen) -> str | None:
        patch: dict[str, Any] = {key: values[key] or None for key in ("complaint", "injuries")
                                 if values[key] != form.initial[key]}
        if values["onset"] != form.initial["onset"]:
            try:
                patch["onset"] = given_at(values["onset"], datetime.now().astimezone())  # blank: not recorded
            except ValueError as exc:
                return f"onset: {exc}"
        if not patch:
            return None
        return await self._patch_from(form, patch)

    async def save_intervention(self, values: dict[str, Any], form: FormScreen) -> str | None:
        if not values["what"]:
            return "say what was done"
        try:
            when = given_at(values["time"], datetime.now().astimezone())
        except ValueError as exc:
            return f"done at: {exc}"
        try:
            item = await self.api.post_as(Intervention, self._path("/interventions"),
                                          {"what": values["what"], "time": when, "by": values["by"] or None})
        except ApiProblem as exc:
            return str(exc)
        self.notify(f"{item.what} at {hhmm(item.time)} recorded")
        return None

    async def save_times(self, values: dict[str, Any], form: FormScreen) -> str | None:
        """Every box that differs from what it showed, checked before anything is sent; blank clears."""
        now = datetime.now().astimezone()
        changes: dict[str, str | None] = {}
        for name, text in values.items():
            if text == form.initial.get(name, ""):
                continue
            try:
                changes[name] = given_at(text, now)
            except ValueError as exc:
                return f"{TIME_WORDS[name]}: {exc}"
        if not changes:
            return None
        problem = await self._patch_from(form, {"times": changes})
        if problem is None and self.encounter is not None:
            stamped = self.encounter.times
            self.notify(" · ".join(f"{TIME_WORDS[name]} {hhmm(getattr(stamped, name)) if at else 'cleared'}"
                                   for name, at in changes.items()))
        return problem

    async def _patch_from(self, form: FormScreen, patch: dict[str, Any]) -> str | None:
        problem = await self.patch_encounter(patch, form.initial["_version"])
        if problem and self.encounter is not None:
            form.initial["_version"] = self.encounter.version  # the crew has now seen the other change
        return problem
