"""The one line systemd's STATUS= and `edge-app status` show."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge_app.api.context import AppContext


def summary_line(ctx: AppContext, counts: dict[str, int]) -> str:
    """E.g. "ready: 2 devices (1 connected), 1 open encounters, 0 unassigned readings; upstream not configured"."""
    devs = list(ctx.devices.values())
    connected = sum(1 for d in devs if d.state == "connected")
    up = upstream_line(ctx)
    unstored = sum(d.describe()["counters"]["unstored"] for d in devs)
    if ctx.writer.last_error:
        # Said first and in capitals: a technician must see it in `systemctl status` at a glance.
        return (f"STORE FAILING ({ctx.writer.last_error}); {unstored} readings held in memory, retrying; "
                f"{len(devs)} devices ({connected} connected)")
    return (f"ready: {len(devs)} devices ({connected} connected), {counts['encounters_open']} open encounters, "
            f"{counts['unassigned']} unassigned readings; {up}")


def upstream_line(ctx: AppContext) -> str:
    """E.g. "upstream forwarding, 0 waiting" or "upstream SUSPENDED (reason), 12 waiting, 1 refused"
    (call on a reader thread)."""
    if ctx.config.upstream is None:
        return "upstream not configured"
    st = ctx.upstream_status()
    state = "forwarding" if st["open"] else ("SUSPENDED" if st["suspended"] else "CLOSED")
    line = f"upstream {state}"
    if not st["open"]:
        line += f" ({st['reason'] if st['suspended'] else st['why']})"
    line += f", {st['pending']} waiting"
    if st["dead"]:
        line += f", {st['dead']} REFUSED"
    return line
