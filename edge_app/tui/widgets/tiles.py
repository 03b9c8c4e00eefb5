"""A big-number vital-sign tile: value, unit, source device and age, stale and no-data said in words."""
from __future__ import annotations

import time
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Digits, Static

STALE_S = 10
NO_DATA_S = 60


def age_words(age_s: float) -> str:
    return f"{age_s:.0f} s" if age_s < 120 else f"{age_s / 60:.0f} min"


def format_value(value: Any, decimals: int) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.{decimals}f}"


class VitalTile(Vertical):
    """One metric. `reading` is the latest value dict from the API (value, unit, time, device)."""

    reading: reactive[dict[str, Any] | None] = reactive(None, always_update=True)
    now: reactive[float] = reactive(0.0)

    def __init__(self, label: str, metrics: tuple[str, ...], unit: str, *, decimals: int = 0, id: str) -> None:
        super().__init__(id=id, classes="tile")
        self.label = label
        self.metrics = metrics  # first one present wins (e.g. heart_rate, else pulse_rate)
        self.unit = unit
        self.decimals = decimals

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="tile-label")
        yield Digits("--", classes="tile-digits")
        yield Static("no data", classes="tile-caption")

    def _state(self) -> tuple[str, str, str]:
        r = self.reading
        if r is None:
            return "--", f"{self.label}: no data", "nodata"
        age = max(0.0, (self.now or time.time()) - r["time"] / 1000)
        shown = format_value(r["value"], self.decimals)
        src = r.get("device") or "manual"
        flags = f" [{', '.join(r['flags'])}]" if r.get("flags") else ""
        if age >= NO_DATA_S:
            return "--", f"{self.label}: no data (last {shown} {self.unit}, {age_words(age)} ago)", "nodata"
        if age >= STALE_S:
            return shown, f"{self.label} {shown} {self.unit} STALE {age_words(age)}\n{src}{flags}", "stale"
        return shown, f"{self.label} {shown} {self.unit} · {age_words(age)}\n{src}{flags}", "live"

    def _refresh(self) -> None:
        if not self.children:  # reactive fired before compose
            return
        digits, caption, state = self._state()
        self.query_one(Digits).update(digits)
        self.query_one(".tile-caption", Static).update(caption)
        for s in ("live", "stale", "nodata"):
            self.set_class(s == state, s)

    def watch_reading(self) -> None:
        self._refresh()

    def watch_now(self) -> None:
        self._refresh()

    def on_mount(self) -> None:
        self._refresh()
