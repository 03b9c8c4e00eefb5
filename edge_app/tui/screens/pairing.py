"""Pair a crew tablet: a one-time code, the URL and the certificate fingerprint, also as a QR code."""
from __future__ import annotations

import io
import json
import time
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static

from edge_app.model.system import PairingCode
from edge_app.tui.api import Api, ApiProblem


def qr_text(payload: str) -> str:
    """The QR code as half-block characters (two modules per character row), readable by a tablet camera."""
    import segno  # lazy: only when a tablet is paired

    out = io.StringIO()
    segno.make(payload, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue().rstrip("\n")


def pairing_payload(doc: PairingCode) -> str:
    """What the tablet's camera reads: where to connect, the code, and the certificate to pin."""
    return json.dumps({"edge-app": 1, "url": doc.url, "code": doc.code, "sha256": doc.fingerprint},
                      separators=(",", ":"))


class PairingScreen(Screen[None]):
    """Asks the daemon for a fresh code on open (and on r); the code dies after 5 minutes or one use."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "New code"),
        Binding("escape,t", "back", "Back"),
    ]

    def __init__(self, api: Api) -> None:
        super().__init__()
        self.api = api
        self.doc: PairingCode | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="pairing"):
            yield Static("", id="pair-qr")
            with Vertical(id="pair-words"):
                yield Static("Pair a crew tablet", classes="title")
                yield Static("asking the daemon for a code…", id="pair-text")
        yield Static("r new code   Esc back", id="pair-keys")

    def on_mount(self) -> None:
        self.fetch()
        self.set_interval(1.0, self._tick)

    @work(exclusive=True)
    async def fetch(self) -> None:
        try:
            self.doc = await self.api.post_as(PairingCode, "/pairing-codes", {"scope": "crew"})
        except ApiProblem as exc:
            self.query_one("#pair-text", Static).update(f"no code: {exc}")
            return
        self._show()

    def _show(self) -> None:
        doc = self.doc
        if doc is None:
            return
        left = int(doc.expires_at / 1000 - time.time())
        code = f"{doc.code[:5]}-{doc.code[5:]}"
        if left <= 0:
            self.query_one("#pair-qr", Static).update("")
            self.query_one("#pair-text", Static).update(f"code {code} EXPIRED\npress r for a new one")
            return
        url = doc.url or "no tablet listener: set [api] listen in the config"
        fp = doc.fingerprint or "none (plain HTTP on loopback only)"
        self.query_one("#pair-text", Static).update(
            f"code   {code}\nvalid  {left // 60}:{left % 60:02d} more, once\n\nurl    {url}\n\ncertificate SHA-256\n"
            + "\n".join(fp[i:i + 24] for i in range(0, len(fp), 24))
            + "\n\nOn the tablet: scan the code, or type the code and check the fingerprint.")
        if doc.url:
            self.query_one("#pair-qr", Static).update(qr_text(pairing_payload(doc)))

    def _tick(self) -> None:
        self._show()

    def action_refresh(self) -> None:
        self.fetch()

    def action_back(self) -> None:
        self.app.pop_screen()
