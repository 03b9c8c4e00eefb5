"""The cab screen: vitals tiles with trends, NEWS2, the encounter and its time stamps, device states.

A client of the daemon only: everything arrives over the Unix socket's event stream and query API; when
the daemon is gone the screen says so in words and reconnects by itself. What the keys do to the record
is in actions.py and atmist_entries.py.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
import msgspec
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static

from edge_app.client import async_client, stream_events
from edge_app.clinical.vitals import pulse_for_news2
from edge_app.errors import ApiClientError
from edge_app.model.encounter import Encounter
from edge_app.model.events import (
    DeviceChanged,
    EncounterChanged,
    LiveReading,
    News2Changed,
    ObservationAdded,
    StreamEvent,
    StreamReset,
    UpstreamChanged,
    VitalsChanged,
)
from edge_app.model.news2 import News2, News2Parameters
from edge_app.model.observation import Observation
from edge_app.model.system import Status
from edge_app.model.upstream import UpstreamStatus
from edge_app.model.vitals import Vitals, VitalSign
from edge_app.tui.actions import EncounterActions
from edge_app.tui.api import Api, ApiProblem
from edge_app.tui.atmist_entries import AtmistEntries
from edge_app.tui.shutdown import until_shutdown
from edge_app.tui.themes import DAY, NIGHT
from edge_app.tui.widgets.devices import DeviceTable
from edge_app.tui.widgets.lines import TIME_KEYS, TIMES_FORM_KEY, EncounterLine, KeyBar, TimesBar
from edge_app.tui.widgets.news2 import News2Panel
from edge_app.tui.widgets.tiles import TREND_S, VitalTile, make_tiles

RETRY_S = 1.0
STATUS_EVERY_S = 5.0
ALWAYS_SHOWN = {"tile-spo2", "tile-pulse", "tile-bp", "tile-rr", "tile-temp"}
PULSE = ("heart_rate", "pulse_rate")


class VitalsApp(EncounterActions, AtmistEntries, App[int]):
    """Live vitals, NEWS2, the encounter, device state."""

    CSS_PATH = "app.tcss"
    TITLE = "edge-app"
    # textual declares it `ClassVar[...] | None`, which mypy reads as an instance variable
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (140, "-wide")]  # type: ignore[misc]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_encounter", "New"),
        Binding("p", "pick", "Pick"),
        Binding("e", "form('observations')", "Obs"),
        Binding("o", "oxygen", "O2 on/off"),
        Binding("m", "form('medication')", "Drug"),
        Binding("a", "intervention", "Intervention"),
        Binding("w", "form('note')", "Note"),
        Binding("i", "form('patient')", "Patient"),
        Binding("c", "complaint", "Complaint"),  # the form: complaint or mechanism, and injuries
        Binding("s", "scale", "Scale"),  # the SpO2 scale, 1 or 2 (the NEWS2 panel names the one in use)
        Binding("k", "chart", "Chart"),  # chart the devices' current values into the record now
        Binding("v", "handover", "Handover"),
        Binding("x", "close", "Close"),
        Binding("t", "pair_tablet", "Pair"),  # pair a tablet: the code and QR
        Binding("d", "toggle_dark", "Theme"),  # day or night colours
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        *[Binding(key, f"stamp('{name}')", words, show=False) for key, name, words in TIME_KEYS],
        Binding(TIMES_FORM_KEY, "times", "Times", show=False),  # listed on the times line, beside the stamps
    ]

    encounter: reactive[Encounter | None] = reactive(None, always_update=True, init=False)
    news2: reactive[News2 | None] = reactive(None, always_update=True, init=False)
    connected: reactive[bool] = reactive(False, init=False)
    status_summary: reactive[str] = reactive("", init=False)

    def __init__(self, socket_path: Path, *, demo_note: str = "") -> None:
        super().__init__()
        self.socket_path = socket_path
        self.api = Api(socket_path)
        self.demo_note = demo_note
        self.creating = False
        self.pinned = False  # the crew picked an encounter that is not the newest open one
        self.active_id: str | None = None
        self.register_theme(DAY)
        self.register_theme(NIGHT)
        self.theme = NIGHT.name

    def compose(self) -> ComposeResult:
        yield Static("connecting to the daemon…", id="conn")
        yield Static("", id="upstream")
        yield EncounterLine(id="encounter")
        yield TimesBar(id="times")
        with Grid(id="tiles"):
            yield from make_tiles()
        yield News2Panel(id="news2")
        yield DeviceTable(id="devices")
        if self.demo_note:
            yield Static(self.demo_note, id="demo-note")
        yield KeyBar(id="keybar")

    @property
    def main(self) -> Screen[Any]:
        """The vitals screen, even while a dialog or the handover screen is on top of it.

        While the app shuts down, Textual empties the screen stack before it cancels the workers, so a
        worker that wakes in between finds no screen: that is NoMatches, on which the app's workers end
        quietly (edge_app.tui.shutdown)."""
        stack = self.screen_stack
        if not stack:
            raise NoMatches("the app is shutting down: no screen")
        return stack[0]

    def on_mount(self) -> None:
        for tile in self.main.query(VitalTile):
            tile.display = tile.id in ALWAYS_SHOWN
        self.main.query_one("#upstream", Static).display = False
        self.main.query_one(EncounterLine).encounter = None
        self.main.query_one(News2Panel).doc = None
        self.main.query_one(TimesBar).times = None
        self.set_interval(1.0, self._tick)
        self.set_interval(STATUS_EVERY_S, self.poll_status)
        self.follow_stream()

    def _tick(self) -> None:
        now = time.time()
        try:
            for tile in self.main.query(VitalTile):
                tile.now = now
            self.main.query_one(News2Panel).now = now
            self.main.query_one(DeviceTable).draw(now)
        except NoMatches:
            return  # the app is shutting down: the timer fired after the widgets were removed

    # -- connection and the stream ----------------------------------------------------------------------
    def watch_connected(self) -> None:
        self._draw_conn()

    def watch_status_summary(self) -> None:
        self._draw_conn()

    def _draw_conn(self, down_reason: str = "") -> None:
        bar = self.main.query_one("#conn", Static)
        if self.connected:
            bar.update(f"daemon connected · {self.status_summary or self.socket_path}")
        elif down_reason:
            bar.update(f"DAEMON {down_reason.upper()}: values below are not live; retrying…")
        bar.set_class(not self.connected, "down")

    @work(exclusive=True, group="stream")
    @until_shutdown
    async def follow_stream(self) -> None:
        """Follow the daemon's event stream forever, reconnecting after any failure."""
        while True:
            try:
                async with async_client(self.socket_path) as client:
                    await self._reload(client)
                    self.connected = True  # the daemon answered; a box with no monitors may send no event for long
                    async for event, _ in stream_events(client):
                        self.connected = True
                        self._on_event(event)
                raise ApiClientError("the daemon closed the stream")
            except (httpx.HTTPError, OSError, ApiClientError) as exc:
                self.connected = False
                reason = "not running" if not self.socket_path.exists() else f"unreachable ({type(exc).__name__})"
                self._draw_conn(reason)
                await asyncio.sleep(RETRY_S)

    async def _reload(self, client: httpx.AsyncClient) -> None:
        """State from the query API: after a (re)connect or a `reset` event."""
        r = await client.get("/api/v1/encounters", params={"status": "open", "limit": 1})
        if r.status_code == 200:
            rows = msgspec.json.decode(r.content, type=list[Encounter])
            self.active_id = rows[0].id if rows else None
            keep = self.pinned and self.encounter is not None
            if not keep:
                self.set_encounter(rows[0] if rows else None)
        self.poll_status()

    @work(exclusive=True, group="status")
    @until_shutdown
    async def poll_status(self) -> None:
        try:
            doc = await self.api.get_as(Status, "/status")
            self.status_summary = doc.summary or f"upstream {doc.upstream}"
            self._draw_upstream(await self.api.get_as(UpstreamStatus, "/upstream"))
        except ApiProblem:
            return

    def _draw_upstream(self, st: UpstreamStatus) -> None:
        """One line, only when the crew should know: records are kept here and not (all) leaving."""
        line = upstream_words(st)
        bar = self.main.query_one("#upstream", Static)
        bar.update(line or "")
        bar.display = bool(line)
        bar.set_class(bool(st.dead), "refused")

    def _on_event(self, event: StreamEvent) -> None:
        match event:
            case DeviceChanged(name=name):
                self.main.query_one(DeviceTable).devices[name] = event
            case LiveReading():
                self._add_point(event.metric, event.time, event.value)  # the trend line; the number: vitals
            case ObservationAdded():
                if self._is_shown(event.encounter_id):
                    self._add_point(event.metric, event.received_at, event.value)
            case VitalsChanged():
                if self._is_shown(event.encounter_id):
                    self._show_vitals(event.vitals, event.news2)
                    self.news2 = event.news2
            case News2Changed():
                pass  # the vitals event carries the same score, with the values it was scored from
            case EncounterChanged():
                self._on_encounter(event)
            case UpstreamChanged():
                self.poll_status()
            case StreamReset():
                self.follow_stream()  # restarts the worker: reconnect and reload

    def _is_shown(self, encounter_id: str | None) -> bool:
        return self.encounter is not None and encounter_id == self.encounter.id

    def _on_encounter(self, enc: Encounter) -> None:
        mine = self._is_shown(enc.id)
        if enc.status == "open" and enc.active:
            self.active_id = enc.id
            if not mine and not self.pinned:
                self.set_encounter(enc)
                return
        if mine and self.encounter is not None and self.encounter.status == "open" and enc.status != "open":
            # Handed over or closed (here or on a tablet): that patient's vitals and NEWS2 leave the screen,
            # so nobody reads them as the next patient's. A picked record (p) is shown whatever its status.
            self.clear_patient(f"encounter {enc.incident_ref or ''} {enc.status.replace('_', ' ')}".replace("  ", " "))
        elif mine:
            self.set_encounter(enc)

    def clear_patient(self, why: str) -> None:
        self.set_encounter(None)
        self.pinned = False
        self.notify(f"{why}: no patient on screen (n new, p pick)")

    def _add_point(self, metric: str, time_ms: int, value: Any) -> None:
        for tile in self.main.query(VitalTile):
            if metric in tile.metrics:
                tile.add_point(time_ms, value)

    def _show_vitals(self, vitals: dict[str, VitalSign], news2: News2 | None) -> None:
        """Every tile from the current vitals: the one rule's answer, the same NEWS2 scored (pulse: the
        one NEWS2 took, heart_rate or pulse_rate; the rule's own pick when NEWS2 scored none)."""
        scored_pulse = news2.inputs.get("pulse") if news2 is not None else None
        for tile in self.main.query(VitalTile):
            vital = (scored_pulse or pulse_for_news2(vitals)) if tile.metrics == PULSE else vitals.get(tile.metrics[0])
            tile.show(vital, vitals.get(tile.pair) if tile.pair else None)
            if vital is not None:
                tile.display = True

    # -- the encounter on screen ------------------------------------------------------------------------
    def set_encounter(self, enc: Encounter | None) -> None:
        changed = (enc.id if enc else None) != (self.encounter.id if self.encounter else None)
        self.encounter = enc
        if changed:
            self.news2 = None
            for tile in self.main.query(VitalTile):
                tile.points.clear()
                tile.show(None)
                tile.display = tile.id in ALWAYS_SHOWN
            if enc is not None:
                self.load_encounter(enc.id)

    def watch_encounter(self, enc: Encounter | None) -> None:
        line = self.main.query_one(EncounterLine)
        line.active_id = self.active_id
        line.encounter = enc
        self.main.query_one(TimesBar).times = enc.times if enc else None
        self.refresh_bindings()

    def watch_news2(self, doc: News2 | None) -> None:
        panel = self.main.query_one(News2Panel)
        if doc is None and self.encounter is not None:  # asked for, not here yet
            doc = News2(total=None, risk=None, risk_at_least=None, scale=2 if self.encounter.spo2_scale == 2 else 1,
                        parameters=News2Parameters(None, None, None, None, None, None, None),
                        missing=["(loading)"], stale=[], red_score=False, response="", inputs={},
                        oldest_input_time=None)
        panel.doc = doc

    @work(exclusive=True, group="load-encounter")
    @until_shutdown
    async def load_encounter(self, encounter_id: str) -> None:
        """The current vitals and NEWS2, and the last 15 minutes of observations for the trend lines."""
        try:
            vitals = await self.api.get_as(Vitals, f"/encounters/{encounter_id}/vitals")
            news2 = await self.api.get_as(News2, f"/encounters/{encounter_id}/news2")
            rows: list[Observation] = []
            after = 0
            while page := await self.api.get_as(list[Observation], f"/encounters/{encounter_id}/observations",
                                                after=after, limit=10000, resolution="raw"):
                rows += page
                after = page[-1].id
                if len(page) < 10000:
                    break
        except ApiProblem as exc:
            self.notify(f"could not load the encounter: {exc}", severity="error")
            return
        if not self._is_shown(encounter_id):
            return  # another encounter was picked meanwhile
        self._show_vitals(vitals.vitals, news2)
        self.news2 = news2
        since = (time.time() - TREND_S) * 1000
        for row in rows:
            if row.received_at >= since:
                self._add_point(row.metric, row.received_at, row.value)
        for tile in self.main.query(VitalTile):
            tile.refresh_trend()

    def on_oxygen(self) -> bool | None:
        """Whether the patient is on oxygen by the latest entry; None when nobody has said."""
        got = self.news2.inputs.get("oxygen_supplement") if self.news2 else None
        return None if got is None else bool(got.value)

    def action_toggle_dark(self) -> None:
        self.theme = DAY.name if self.theme == NIGHT.name else NIGHT.name


def run_tui(socket_path: Path) -> int:
    """Run the UI in this terminal until the crew quits."""
    VitalsApp(socket_path).run()
    return 0


def upstream_words(st: UpstreamStatus) -> str | None:
    """The crew's upstream line, or None when there is nothing to say (not configured, or all flowing)."""
    if not st.configured:
        return None
    waiting = st.pending
    kept = f"{waiting} record{'s' if waiting != 1 else ''} waiting, kept safe on this box"
    parts = []
    if st.suspended:
        parts.append(f"UPSTREAM SUSPENDED ({st.reason or 'no reason given'}): {kept}")
    elif not st.open:
        parts.append(f"UPSTREAM CLOSED ({st.why}): {kept}")
    if st.dead:
        n = st.dead
        parts.append(f"{n} record{'s' if n != 1 else ''} REFUSED by the hospital system: {st.last_error} "
                     "(tell a technician)")
    return " · ".join(parts) or None
