"""The handover screen: ATMIST to read aloud at the hospital, or the full written summary."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static

from edge_app.tui.api import ApiProblem
from edge_app.tui.widgets.lines import KeyBar

Fetch = Callable[[str], Awaitable[str]]


class HandoverScreen(Screen[None]):
    """Text from GET /handover; the daemon renders it, so the tablet and the cab read out the same words."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "show('atmist')", "ATMIST"),
        Binding("s", "show('summary')", "Summary"),
        Binding("r", "reload", "Reload"),
        Binding("up", "scroll(-1)", "Scroll", show=False),
        Binding("down", "scroll(1)", "Scroll", show=False),
        Binding("pageup", "scroll(-10)", "Page up"),
        Binding("pagedown", "scroll(10)", "Page down"),
        Binding("escape,v", "back", "Back"),
    ]
    fmt: reactive[str] = reactive("atmist")

    def __init__(self, fetch: Fetch) -> None:
        super().__init__()
        self.fetch = fetch

    def compose(self) -> ComposeResult:
        yield Static("", id="handover-title")
        with VerticalScroll(id="handover-scroll"):
            yield Static("loading…", id="handover-text")
        yield KeyBar(id="keybar")

    def watch_fmt(self, fmt: str) -> None:
        self.query_one("#handover-title", Static).update(
            "HANDOVER · ATMIST (read aloud)" if fmt == "atmist" else "HANDOVER · written summary")
        self.load()

    @work(exclusive=True, group="handover")
    async def load(self) -> None:
        try:
            text = await self.fetch(self.fmt)
        except ApiProblem as exc:
            text = f"could not load the handover: {exc}"
        self.query_one("#handover-text", Static).update(escape(text))

    def on_screen_resume(self) -> None:
        """Back from a form opened over this screen (the main keys work here: c, a, m, 0 …): read it again,
        so what the crew just entered is on the screen they are reading from."""
        self.load()

    def action_show(self, fmt: str) -> None:
        self.fmt = fmt

    def action_reload(self) -> None:
        self.load()

    def action_scroll(self, lines: int) -> None:
        scroll = self.query_one("#handover-scroll", VerticalScroll)
        scroll.scroll_to(y=scroll.scroll_y + lines, animate=False)

    def action_back(self) -> None:
        self.app.pop_screen()
