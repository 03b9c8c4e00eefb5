"""The live-vitals screen: SpO2, pulse and PI tiles, device states, the active encounter.

A client of the daemon only: everything arrives over the Unix socket's event stream; when the daemon
is gone the screen says so in words and reconnects by itself.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Static

from edge_app.client import async_client, sse_events
from edge_app.errors import ApiClientError
from edge_app.tui.tiles import STALE_S, VitalTile, age_words

RETRY_S = 1.0


class VitalsApp(App[int]):
    """Live vitals and device state."""

    CSS_PATH = "app.tcss"
    TITLE = "edge-app"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_encounter", "New encounter"),
        Binding("d", "toggle_dark", "Day/night"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, socket_path: Path, *, demo_note: str = "") -> None:
        super().__init__()
        self.socket_path = socket_path
        if demo_note:
            self.sub_title = demo_note
        self.devices: dict[str, dict[str, Any]] = {}
        self.connected = False
        self.active: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("connecting to the daemon…", id="conn")
        with Horizontal(id="tiles"):
            yield VitalTile("SpO2", ("spo2",), "%", id="tile-spo2")
            yield VitalTile("Pulse", ("heart_rate", "pulse_rate"), "/min", id="tile-pulse")
            yield VitalTile("PI", ("perfusion_index",), "%", decimals=2, id="tile-pi")
        yield Static("no open encounter: press n to start one", id="encounter")
        table: DataTable[str] = DataTable(id="devices", cursor_type="none", zebra_stripes=True)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("name", "Device"), ("state", "State"), ("last", "Last frame"), ("frames", "Frames ok/bad"),
                           ("stored", "Stored")):
            table.add_column(label, key=key)
        self.set_interval(1.0, self._tick)
        self.follow_stream()

    def _tick(self) -> None:
        now = time.time()
        for tile in self.query(VitalTile):
            tile.now = now
        self._draw_devices()

    def _set_conn(self, text: str, *, down: bool) -> None:
        bar = self.query_one("#conn", Static)
        bar.update(text)
        bar.set_class(down, "down")

    @work(exclusive=True, group="stream")
    async def follow_stream(self) -> None:
        """Follow the daemon's event stream forever, reconnecting after any failure."""
        while True:
            try:
                async with async_client(self.socket_path) as client:
                    await self._load_encounter(client)
                    async for kind, data, _ in sse_events(client):
                        if not self.connected:
                            self.connected = True
                            self._set_conn(f"daemon connected · {self.socket_path}", down=False)
                        self._on_event(kind, data)
                raise ApiClientError("the daemon closed the stream")
            except (httpx.HTTPError, OSError, ApiClientError) as exc:
                self.connected = False
                reason = "not running" if not self.socket_path.exists() else f"unreachable ({type(exc).__name__})"
                self._set_conn(f"DAEMON {reason.upper()}: values below are not live; retrying…", down=True)
                await asyncio.sleep(RETRY_S)

    async def _load_encounter(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/encounters", params={"status": "open", "limit": 1})
        if r.status_code == 200:
            rows = r.json()
            self._show_encounter(rows[0] if rows else None)

    def _on_event(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "device":
            self.devices[data["name"]] = data
            for metric, latest in data.get("latest", {}).items():
                self._apply_reading(metric, {**latest, "device": data["name"]}, only_if_newer=True)
            self._draw_devices()
        elif kind == "reading":
            self._apply_reading(data["metric"], data)
        elif kind == "encounter":
            if data.get("status") == "open":
                self._show_encounter(data)
            elif self.active and data.get("id") == self.active.get("id"):
                self._show_encounter(None)

    def _apply_reading(self, metric: str, reading: dict[str, Any], *, only_if_newer: bool = False) -> None:
        for tile in self.query(VitalTile):
            if metric in tile.metrics:
                current = tile.reading
                fresh = current is not None and time.time() - current["time"] / 1000 < STALE_S
                if fresh and current.get("metric_rank", 0) < tile.metrics.index(metric):
                    continue  # a fresh heart_rate beats a pulse_rate in the same tile
                if fresh and current.get("device") != reading.get("device") \
                        and current.get("metric_rank", 0) == tile.metrics.index(metric):
                    continue  # two monitors measuring the same thing: stay with one while it is live
                if only_if_newer and current is not None and current["time"] >= reading["time"]:
                    continue
                tile.reading = {**reading, "metric_rank": tile.metrics.index(metric)}

    def _show_encounter(self, enc: dict[str, Any] | None) -> None:
        self.active = enc
        line = self.query_one("#encounter", Static)
        if enc is None:
            line.update("no open encounter: readings are kept unassigned; press n to start one")
        else:
            ref = enc.get("incident_ref") or "no incident ref"
            opened = time.strftime("%H:%M", time.localtime(enc["created_at"] / 1000))
            line.update(f"encounter open since {opened} · {ref} · device readings attach to it")

    def _draw_devices(self) -> None:
        table = self.query_one(DataTable)
        now = time.time()
        for name, d in sorted(self.devices.items()):
            c = d.get("counters", {})
            last = d.get("last_frame_at")
            # The port is in `edge-app status`; here the crew needs the state in a word (80 columns).
            state = d["state"] + (f": {d['detail']}" if d.get("detail") and d["state"] != "connected" else "")
            if d.get("status_flags"):
                state += f" [{', '.join(d['status_flags'])}]"
            cells = (name, state, f"{age_words(now - last / 1000)} ago" if last else "never",
                     f"{c.get('frames_ok', 0)}/{c.get('frames_bad', 0)}", str(c.get("committed", 0)))
            if name in table.rows:
                for key, value in zip(("name", "state", "last", "frames", "stored"), cells):
                    table.update_cell(name, key, value)
            else:
                table.add_row(*cells, key=name)

    async def action_new_encounter(self) -> None:
        try:
            async with async_client(self.socket_path) as client:
                r = await client.post("/api/v1/encounters", json={})
            if r.status_code != 201:
                self.notify(f"could not open an encounter: {r.json().get('detail')}", severity="error")
                return
            self._show_encounter(r.json())
            self.notify("new encounter open; device readings now attach to it")
        except (httpx.HTTPError, OSError):
            self.notify("the daemon is not reachable; try again in a moment", severity="error")

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"


def run_tui(socket_path: Path) -> int:
    """Run the UI in this terminal until the crew quits."""
    VitalsApp(socket_path).run()
    return 0
