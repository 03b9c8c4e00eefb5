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
    return (f"ready: {len(devs)} devices ({connected} connected), {counts['encounters_open']} open encounters, "
            f"{counts['unassigned']} unassigned readings; {up}")
