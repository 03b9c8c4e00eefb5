"""The device table: each monitor's state in a word, when it last sent a frame, frames and rows stored."""
from __future__ import annotations

import time
from typing import Any

from textual.widgets import DataTable

from edge_app.tui.widgets.tiles import age_words

COLUMNS = (("name", "Device"), ("state", "State"), ("last", "Last frame"), ("frames", "Frames ok/bad"),
           ("stored", "Stored"))


class DeviceTable(DataTable[str]):
    """Rows keyed by device name, redrawn once a second from the latest `device` events."""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True)
        self.devices: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def draw(self, now: float | None = None) -> None:
        now = now or time.time()
        for name, d in sorted(self.devices.items()):
            c = d.get("counters", {})
            last = d.get("last_frame_at")
            # The port is in `edge-app status`; here the crew needs the state in a word (80 columns).
            state = d["state"] + (f": {d['detail']}" if d.get("detail") and d["state"] != "connected" else "")
            if d.get("status_flags"):
                state += f" [{', '.join(d['status_flags'])}]"
            cells = (name, state, f"{age_words(now - last / 1000)} ago" if last else "never",
                     f"{c.get('frames_ok', 0)}/{c.get('frames_bad', 0)}", str(c.get("committed", 0)))
            if name in self.rows:
                for (key, _), value in zip(COLUMNS, cells):
                    self.update_cell(name, key, value)
            else:
                self.add_row(*cells, key=name)
