"""Small dialogs: one line of text (the incident reference), and a choice answered by one key."""
from __future__ import annotations

from typing import ClassVar

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class TextPrompt(ModalScreen[str | None]):
    """Ask for one line; Enter confirms, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, *, placeholder: str = "", restrict: str | None = None,
                 max_length: int = 0, hint: str = "Enter: confirm · Esc: cancel") -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.placeholder = placeholder
        self.restrict = restrict
        self.max_length = max_length
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(escape(self.question), classes="dialog-title")
            yield Input(placeholder=self.placeholder, restrict=self.restrict, max_length=self.max_length,
                        id="prompt-input")
            yield Static(escape(self.hint), classes="dialog-hint")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class Choice(ModalScreen[str | None]):
    """A question answered by one key, e.g. [("y", "yes"), ("n", "no")]; Escape answers None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, options: list[tuple[str, str]]) -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.options = options

    def compose(self) -> ComposeResult:
        keys = "   ".join(f"[b $accent]{k}[/] {escape(words)}" for k, words in self.options)
        with Vertical(classes="dialog-box"):
            yield Static(escape(self.question), classes="dialog-title", id="choice-question")
            yield Static(keys + "   [b $accent]Esc[/] cancel", classes="dialog-hint")

    @on(Key)
    def _key(self, event: Key) -> None:
        for key, _ in self.options:
            if event.key == key:
                event.stop()
                self.dismiss(key)
                return

    def action_cancel(self) -> None:
        self.dismiss(None)
