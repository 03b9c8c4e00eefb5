"""`edge-app status`: the short version of what the daemon is doing."""
from __future__ import annotations

import json
import time

from edge_app.client import call_as, get_json
from edge_app.config import Config
from edge_app.model.system import Status


def _age(ms: int | None) -> str:
    if not ms:
        return "never"
    s = max(0.0, time.time() - ms / 1000)
    return f"{s:.0f} s ago" if s < 120 else f"{s / 60:.0f} min ago"


def status_command(cfg: Config, *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(get_json(cfg.socket_path, "/api/v1/status"), indent=2))
        return 0
    doc = call_as(cfg.socket_path, Status, "GET", "/api/v1/status")
    print(doc.summary)
    for d in doc.devices:
        c = d.counters
        detail = f" ({d.detail})" if d.detail else ""
        print(f"  {d.name:<12} {d.protocol:<14} {d.state}{detail}; last frame {_age(d.last_frame_at)}; "
              f"{c.get('frames_ok', 0)} frames, {c.get('frames_bad', 0)} bad, {c.get('committed', 0)} stored")
    store = doc.store
    err = f"; LAST ERROR: {store.last_error}" if store.last_error else ""
    print(f"  store {store.path}: {doc.counts['observations']} observations{err}")
    return 0
