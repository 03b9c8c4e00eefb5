"""Pick which open encounter the keys act on."""
from __future__ import annotations

import time
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from edge_app.model.encounter import Encounter


def describe(enc: Encounter) -> str:
    opened = time.strftime("%H:%M", time.localtime(enc.created_at / 1000))
    name = enc.patient.name or "patient not named"
    active = " · ACTIVE (device readings)" if enc.active else ""
    return f"{opened} · {enc.incident_ref or 'no incident ref'} · {name}{active}"


class PickScreen(ModalScreen[Encounter | None]):
    """Open encounters, newest first; Enter picks one, Escape keeps the current one."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, encounters: list[Encounter]) -> None:
        super().__init__(classes="dialog")
        self.encounters = encounters

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static("Open encounters (Enter: pick · Esc: cancel)", classes="dialog-title")
            if not self.encounters:
                yield Static("none open: press Esc, then n to start one")
            yield OptionList(*[Option(describe(e), id=e.id) for e in self.encounters], id="pick-list")

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(next(e for e in self.encounters if e.id == event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
