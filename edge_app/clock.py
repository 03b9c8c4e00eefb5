"""The wall clock, in the unit the store keeps (UTC epoch milliseconds)."""
from __future__ import annotations

import os
import time
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def now_ms() -> int:
    """Now, epoch ms (UTC); the box's clock, which can step: order is kept by sequence, not by this."""
    return time.time_ns() // 1_000_000


def box_zone(name: str | None = None) -> tzinfo:
    """The zone people read times in: config's [appliance] timezone, else $TZ, else the box's
    /etc/localtime, else UTC. A full IANA zone (not a fixed offset), so a handover written in July for a
    job that began in March still says GMT for March and BST for July."""
    if name:
        return ZoneInfo(name)  # config.py checked the name when it loaded
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            return ZoneInfo(env)
        except (ValueError, ZoneInfoNotFoundError):
            pass
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return UTC
