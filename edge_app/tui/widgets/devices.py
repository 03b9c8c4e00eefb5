"""The device table: each monitor's state in a word, when it last sent a frame, frames and rows stored."""
from __future__ import annotations

import time

from textual.widgets import DataTable

from edge_app.model.devices import Device
from edge_app.tui.widgets.tiles import age_words

COLUMNS = (("name", "Device"), ("state", "State"), ("last", "Last frame"), ("frames", "Frames ok/bad"),
           ("stored", "Stored"))


class DeviceTable(DataTable[str]):
    """Rows keyed by device name, redrawn once a second from the latest `device` events."""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True)
        self.devices: dict[str, Device] = {}
        # name -> (last_frame_at, time.monotonic(), age in s) when that last_frame_at was first drawn
        self._seen: dict[str, tuple[int, float, float]] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def draw(self, now: float | None = None) -> None:
        now = now or time.time()
        for name, d in sorted(self.devices.items()):
            c = d.counters
            last = d.last_frame_at
            # The port is in `edge-app status`; here the crew needs the state in a word (80 columns).
            state = d.state + (f": {d.detail}" if d.detail and d.state != "connected" else "")
            if d.status_flags:
                state += f" [{', '.join(d.status_flags)}]"
            cells = (name, state, f"{age_words(self.frame_age(name, last, now))} ago" if last else "never",
                     f"{c.get('frames_ok', 0)}/{c.get('frames_bad', 0)}", str(c.get("committed", 0)))
            if name in self.rows:
                for (key, _), value in zip(COLUMNS, cells, strict=True):
                    self.update_cell(name, key, value)
            else:
                self.add_row(*cells, key=name)

    def frame_age(self, name: str, last_ms: int, now: float) -> float:
        """Seconds since a device's last frame, by the wall clock, but never less than the time since that
        frame was first drawn by the monotonic clock (as VitalTile.age does): a device that went silent
        before the wall clock stepped back must not look as if it sent a frame "-3599 s ago", nor just now."""
        mono = time.monotonic()
        seen = self._seen.get(name)
        if seen is None or seen[0] != last_ms:
            seen = self._seen[name] = (last_ms, mono, max(0.0, now - last_ms / 1000))
        _, at, age_then = seen
        return max(0.0, now - last_ms / 1000, age_then + mono - at)
