"""The daemon's state in one document, and the one line systemd's STATUS= and `edge-app status` show."""
from __future__ import annotations

from edge_app import __version__
from edge_app.config import Config
from edge_app.model.system import Status, StoreState
from edge_app.services.devices import DeviceBoard
from edge_app.services.upstream import UpstreamService
from edge_app.store.access import Store


class StatusService:
    def __init__(self, store: Store, config: Config, devices: DeviceBoard, upstream: UpstreamService,
                 started_ms: int) -> None:
        self.store = store
        self.config = config
        self.devices = devices
        self.upstream = upstream
        self.started_ms = started_ms

    def status(self) -> Status:
        """Daemon, devices, store and counts (call on a reader thread)."""
        counts = self.store.reader.counts()
        w = self.store.writer
        return Status(version=__version__, started_at=self.started_ms, devices=self.devices.snapshot(),
                      store=StoreState(path=str(self.config.db_path), batches=w.batches, ops=w.ops,
                                       last_error=w.last_error),
                      counts=counts, active_encounter=self.store.reader.active_encounter_id(),
                      upstream=self.upstream_line(), summary=self.summary_line(counts))

    def summary_line(self, counts: dict[str, int] | None = None) -> str:
        """E.g. "ready: 2 devices (1 connected), 1 open encounters, 0 unassigned readings; upstream not
        configured" (call on a reader thread)."""
        counts = counts if counts is not None else self.store.reader.counts()
        devs = list(self.devices)
        connected = sum(1 for d in devs if d.state == "connected")
        up = self.upstream_line()
        unstored = sum(d.unstored for d in devs)
        last_error = self.store.writer.last_error
        if last_error:
            # Said first and in capitals: a technician must see it in `systemctl status` at a glance.
            return (f"STORE FAILING ({last_error}); {unstored} readings held in memory, retrying; "
                    f"{len(devs)} devices ({connected} connected)")
        return (f"ready: {len(devs)} devices ({connected} connected), {counts['encounters_open']} open encounters, "
                f"{counts['unassigned']} unassigned readings; {up}")

    def upstream_line(self) -> str:
        """E.g. "upstream forwarding, 0 waiting" or "upstream SUSPENDED (reason), 12 waiting, 1 REFUSED"
        (call on a reader thread)."""
        if self.config.upstream is None:
            return "upstream not configured"
        st = self.upstream.status()
        state = "forwarding" if st.open else ("SUSPENDED" if st.suspended else "CLOSED")
        line = f"upstream {state}"
        if not st.open:
            line += f" ({st.reason if st.suspended else st.why})"
        line += f", {st.pending} waiting"
        if st.dead:
            line += f", {st.dead} REFUSED"
        return line
