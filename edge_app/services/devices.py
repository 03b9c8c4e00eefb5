"""The monitors the daemon runs, as the use cases see them: their state, and each one's snapshot."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from edge_app.model.devices import Device


class Monitor(Protocol):
    """What a device supervisor (edge_app.daemon.devices) offers the services."""

    @property
    def state(self) -> str: ...

    @property
    def unstored(self) -> int: ...

    def describe(self) -> Device: ...


class DeviceBoard:
    """The configured monitors, in config order (the daemon adds them as it starts their supervisors)."""

    def __init__(self) -> None:
        self._monitors: dict[str, Monitor] = {}

    def add(self, name: str, monitor: Monitor) -> None:
        self._monitors[name] = monitor

    def __iter__(self) -> Iterator[Monitor]:
        return iter(list(self._monitors.values()))

    def __len__(self) -> int:
        return len(self._monitors)

    def status_flags(self) -> dict[str, list[str]]:
        """Each monitor's live status flags (e.g. sensor_off while the probe is off the patient)."""
        return {d.name: d.status_flags for d in self.snapshot()}

    def snapshot(self) -> list[Device]:
        """Every monitor as GET /api/v1/devices shows it."""
        return [m.describe() for m in self]
