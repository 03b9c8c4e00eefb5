"""Quick-entry forms: observations, a drug given, an intervention, a note, patient details, complaint and
injuries, time stamps.

A form only gathers text; saving is a callback (the app's API calls) that answers None when all was
saved or a sentence saying what was not, which the form shows while keeping what was typed.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

from edge_app.tui.widgets.lines import TIME_KEYS, TIME_WORDS, KeyBar

Saver = Callable[[dict[str, Any], "FormScreen"], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Field:
    """One entry box: its key in the values dict, the label, a hint, the characters it accepts; a wide box
    takes the whole row, for free text that would not be readable in half of it."""

    key: str
    label: str
    placeholder: str = ""
    restrict: str | None = None
    max_length: int = 0
    switch: bool = False
    wide: bool = False


NUMBER = r"[0-9]*"
HHMM = r"[0-9:]*"
DECIMAL = r"[0-9]*\.?[0-9]*"
GCS = r"([0-9]|[Nn][Tt]?)?"

OBSERVATION_FIELDS = (
    Field("resp_rate", "RR /min", "e.g. 22", NUMBER, 3),
    Field("consciousness", "ACVPU", "A C V P U", r"[AaCcVvPpUu]?", 1),
    Field("temperature", "Temp °C", "e.g. 37.2", DECIMAL, 5),
    # Three states (RCP NEWS2 2017 scores air 0, oxygen 2): blank is "not entered", never "on air".
    Field("oxygen_supplement", "Air or O2", "a air · o oxygen", r"[AaOo]?", 1),
    Field("bp_systolic", "BP systolic", "mmHg", NUMBER, 3),
    Field("bp_diastolic", "BP diastolic", "mmHg", NUMBER, 3),
    Field("spo2", "SpO2 % (manual)", "", NUMBER, 3),
    Field("pulse_rate", "Pulse (manual)", "/min", NUMBER, 3),
    Field("gcs_eye", "GCS eye", "1-4 or NT", GCS, 2),
    Field("gcs_verbal", "GCS verbal", "1-5 or NT", GCS, 2),
    Field("gcs_motor", "GCS motor", "1-6 or NT", GCS, 2),
)
MEDICATION_FIELDS = (
    Field("drug", "Drug", "e.g. aspirin", None, 100),
    Field("dose", "Dose", "e.g. 300", DECIMAL, 8),
    Field("unit", "Unit", "mg mcg ml L/min units", None, 16),
    Field("route", "Route", "oral IV IM IO IN neb", None, 32),
    Field("time", "Given at", "HH:MM (blank: now)", HHMM, 5),
)
INTERVENTION_FIELDS = (
    Field("what", "Intervention", "e.g. cannula 18G left AC; splint; airway", None, 200, wide=True),
    Field("time", "Done at", "HH:MM (now)", HHMM, 5),
    Field("by", "By", "name (optional)", None, 100),
)
COMPLAINT_FIELDS = (
    Field("complaint", "Complaint / MOI", "how it happened, or e.g. chest pain since 09:00", None, 500,
          wide=True),
    Field("injuries", "Injuries", "what was found, head to toe", None, 2000, wide=True),
    Field("onset", "Onset", "HH:MM (blank: not recorded)", HHMM, 5),
)


def time_fields(names: tuple[str, ...] | None = None) -> tuple[Field, ...]:
    """One HH:MM box per time stamp (all of them in the order a job runs, or the ones named)."""
    return tuple(Field(name, TIME_WORDS[name], "HH:MM", HHMM, 5) for _, name, _ in TIME_KEYS
                 if names is None or name in names)


NOTE_FIELDS = (Field("text", "Note", "what happened", None, 4000),)
PATIENT_FIELDS = (
    Field("name", "Name", "", None, 100),
    Field("date_of_birth", "Date of birth", "YYYY-MM-DD", r"[0-9-]*", 10),
    Field("estimated_age", "Or estimated age", "years", NUMBER, 3),
    Field("sex", "Sex", "m f o u", r"[MmFfOoUu]?", 1),
    Field("nhs_number", "NHS number", "10 digits", r"[0-9 ]*", 12),
    Field("allergies", "Allergies", "comma separated; NKDA", None, 500),
)


class FormScreen(ModalScreen[bool]):
    """Fields in two columns; Enter in a box (or Ctrl+S anywhere) saves, Escape leaves without saving."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "cancel", "Cancel"),
        Binding("tab", "app.focus_next", "Next field"),
    ]
    error: reactive[str] = reactive("")
    saving: reactive[bool] = reactive(False)

    def __init__(self, title: str, fields: tuple[Field, ...], save: Saver,
                 initial: dict[str, Any] | None = None) -> None:
        super().__init__(classes="dialog form")
        self.title_text = title
        self.fields = fields
        self.save = save
        self.initial = initial or {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(escape(self.title_text), classes="dialog-title")
            with Grid(classes="form-grid"):
                for f in self.fields:
                    yield Label(f.label, classes="form-label")
                    if f.switch:
                        yield Checkbox("yes (space)", bool(self.initial.get(f.key)), compact=True, id=f"f-{f.key}")
                    else:
                        yield Input(str(self.initial.get(f.key) or ""), placeholder=f.placeholder,
                                    restrict=f.restrict, max_length=f.max_length, compact=True,
                                    id=f"f-{f.key}", classes="wide" if f.wide else "")
            yield Static("", id="form-error")
            yield KeyBar(classes="dialog-hint")
            yield Static("Enter saves from any field", classes="dialog-hint")

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.switch:
                out[f.key] = self.query_one(f"#f-{f.key}", Checkbox).value
            else:
                out[f.key] = self.query_one(f"#f-{f.key}", Input).value.strip()
        return out

    def clear(self, keys: list[str]) -> None:
        """Empty the boxes whose values were saved, so saving again does not enter them twice."""
        for key in keys:
            box = self.query_one(f"#f-{key}")
            if isinstance(box, Input):
                box.value = ""

    def watch_error(self, error: str) -> None:
        self.query_one("#form-error", Static).update(escape(error))
        self.query_one("#form-error", Static).set_class(bool(error), "shown")

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        if not self.saving:
            self.saving = True
            self.error = "saving…"
            self._save()

    @work(exclusive=True, group="form-save")
    async def _save(self) -> None:
        try:
            problem = await self.save(self.values(), self)
        finally:
            self.saving = False
        if problem:
            self.error = problem
        else:
            self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
