"""One-line widgets: the key legend, the encounter line and the time stamps with their keys."""
from __future__ import annotations

import time
from typing import Any

from rich.cells import cell_len
from rich.markup import escape
from textual.reactive import reactive
from textual.widgets import Static

from edge_app.model.encounter import Encounter, Patient, Times

# key -> (time name in the API, words on screen), in the order a job runs
TIME_KEYS: tuple[tuple[str, str, str], ...] = (
    ("1", "call", "call"), ("2", "mobile", "mobile"), ("3", "at_scene", "scene"),
    ("4", "at_patient", "patient"), ("5", "left_scene", "left"), ("6", "at_hospital", "hospital"),
    ("7", "handover", "handover"), ("8", "clear", "clear"),
)
TIMES_FORM_KEY = "0"  # every stamp in one form, to type a time stated late; next to the stamp keys
TIME_WORDS = {"call": "call", "mobile": "mobile", "at_scene": "at scene", "at_patient": "at patient",
              "left_scene": "left scene", "at_hospital": "at hospital", "handover": "handover", "clear": "clear"}


def hhmm(ms: int | None) -> str:
    return "--:--" if ms is None else time.strftime("%H:%M", time.localtime(ms / 1000))


def fit(entries: tuple[tuple[str, int], ...], width: int, gap: str) -> str:
    """Entries (markup, cells wide) joined by gap, a new line wherever the next would not fit: a line ends
    between two keys, never between a key and its words ("d" at the end of one line and "Day/night" at the
    start of the next read as two things). Textual's own wrapping breaks at any space, no-break ones too."""
    lines: list[list[str]] = [[]]
    used = 0
    for markup, cells in entries:
        if lines[-1] and 0 < width < used + len(gap) + cells:
            lines.append([])
        used = cells if not lines[-1] else used + len(gap) + cells
        lines[-1].append(markup)
    return "\n".join(gap.join(line) for line in lines)


class FittedLine(Static):
    """A Static whose entries are laid out by fit() for its width, again whenever the width changes."""

    entries: tuple[tuple[str, int], ...] = ()
    gap = "  "

    def show(self, entries: list[tuple[str, int]]) -> None:
        self.entries = tuple(entries)
        self.update(fit(self.entries, self.content_region.width, self.gap))

    def on_resize(self) -> None:
        self.update(fit(self.entries, self.content_region.width, self.gap))


class KeyBar(FittedLine):
    """Every key this screen answers to, wrapped over as many lines as the width needs (a footer that fits
    80 columns); keys an action does not apply to right now are not listed."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._draw)
        self._draw()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _draw(self, *_: Any) -> None:
        parts: list[tuple[str, int]] = []
        seen: set[str] = set()
        for _node, binding, enabled, _tip in self.screen.active_bindings.values():
            if not binding.show or binding.description in seen:
                continue
            seen.add(binding.description)
            key = self.app.get_key_display(binding)
            style = "b $accent" if enabled else "$text-disabled"
            parts.append((f"[{style}]{escape(key)}[/] {escape(binding.description)}",
                          cell_len(f"{key} {binding.description}")))
        self.show(parts)


class EncounterLine(Static):
    """Which encounter the keys act on, and whether device readings attach to it."""

    encounter: reactive[Encounter | None] = reactive(None, always_update=True)
    active_id: reactive[str | None] = reactive(None)

    def line_text(self) -> str:
        enc = self.encounter
        if enc is None:
            return "no open encounter: readings are kept unassigned; press n to start one"
        ref = enc.incident_ref or "no incident ref"
        p = enc.patient
        who = " ".join(str(x) for x in (p.name, p.sex, _age(p)) if x) or "patient not named"
        status = "" if enc.status == "open" else f" · {enc.status.upper().replace('_', ' ')}"
        line = f"encounter open since {hhmm(enc.created_at)} · {ref} · {who}{status}"
        if self.active_id and enc.id != self.active_id:
            line += " · NOT the active one: device readings go to the newest open encounter"
        return line

    def watch_encounter(self) -> None:
        self.update(escape(self.line_text()))

    def watch_active_id(self) -> None:
        self.update(escape(self.line_text()))


def _age(p: Patient) -> str:
    if p.date_of_birth:
        return f"born {p.date_of_birth}"
    return f"about {p.estimated_age}" if p.estimated_age is not None else ""


class TimesBar(FittedLine):
    """The time stamps with the key that sets each ("3 at scene 10:42"), and the key to type them."""

    times: reactive[Times | None] = reactive(None, always_update=True)
    gap = " "

    def watch_times(self, times: Times | None) -> None:
        parts = []
        for key, name, words in TIME_KEYS:
            at = getattr(times, name) if times else None
            stamp = f" {hhmm(at)} " if at else "--"
            style = "b reverse" if at else "dim"
            parts.append((f"[b $accent]{key}[/] {words} [{style}]{stamp}[/]",
                          cell_len(f"{key} {words} {stamp}")))
        parts.append((f"[b $accent]{TIMES_FORM_KEY}[/] type times", cell_len(f"{TIMES_FORM_KEY} type times")))
        self.show(parts)
