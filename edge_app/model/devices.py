"""A monitor as the daemon sees it now: its state, counters and latest values."""
from __future__ import annotations

import msgspec

from edge_app.model.observation import Value


class LatestValue(msgspec.Struct, frozen=True):
    value: Value
    unit: str
    time: int
    device_time: int | None
    flags: list[str]


class Device(msgspec.Struct, frozen=True):
    name: str
    protocol: str
    port: str | None
    state: str
    detail: str
    since: int | None
    last_frame_at: int | None
    status_flags: list[str]
    counters: dict[str, int]
    latest: dict[str, LatestValue]
    info: dict[str, str] = {}


class KnownDevice(msgspec.Struct, frozen=True):
    """A device the store has seen configured (it may no longer be): for the record's Device resources."""

    name: str
    protocol: str
    port: str | None
    info: dict[str, str]
