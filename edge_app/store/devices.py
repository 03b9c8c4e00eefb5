"""Devices in SQLite: every monitor ever configured, with what it reported about itself."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlite_utils


def upsert_device(name: str, protocol: str, port: str | None, address: str | None,
                  now_ms: int) -> Callable[[sqlite_utils.Database], None]:
    """Record a configured device (first seen kept, config fields refreshed)."""

    def op(db: sqlite_utils.Database) -> None:
        db.execute("INSERT INTO devices (name, protocol, port, address, first_seen, last_seen) VALUES (?,?,?,?,?,?)"
                   " ON CONFLICT(name) DO UPDATE SET protocol=excluded.protocol, port=excluded.port,"
                   " address=excluded.address, last_seen=excluded.last_seen",
                   (name, protocol, port, address, now_ms, now_ms))

    return op


def set_device_info(name: str, info: dict[str, Any], now_ms: int) -> Callable[[sqlite_utils.Database], None]:
    """Maker, model, serial, firmware as the device reported them (BLE Device Information)."""

    def op(db: sqlite_utils.Database) -> None:
        db.execute("UPDATE devices SET info = ?, last_seen = ? WHERE name = ?",
                   (json.dumps(info, sort_keys=True), now_ms, name))

    return op
