"""The one line systemd's STATUS= and `edge-app status` show."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge_app.api.context import AppContext


def summary_line(ctx: AppContext, counts: dict[str, int]) -> str:
    """E.g. "ready: 2 devices (1 connected), 1 open encounters, 0 unassigned readings; upstream not configured"."""
    devs = list(ctx.devices.values())
    connected = sum(1 for d in devs if d.state == "connected")
    up = "upstream not configured" if ctx.config.upstream is None else "upstream configured, forwarding not built"
    unstored = sum(d.describe()["counters"]["unstored"] for d in devs)
    if ctx.writer.last_error:
        # Said first and in capitals: a technician must see it in `systemctl status` at a glance.
        return (f"STORE FAILING ({ctx.writer.last_error}); {unstored} readings held in memory, retrying; "
                f"{len(devs)} devices ({connected} connected)")
    return (f"ready: {len(devs)} devices ({connected} connected), {counts['encounters_open']} open encounters, "
            f"{counts['unassigned']} unassigned readings; {up}")
