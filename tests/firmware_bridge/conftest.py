"""Shared fixtures for the bridge tests: a virtual serial port on a real pty."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_bridge.simulate.ports import VirtualSerialPort


@pytest.fixture
def vport(tmp_path: Path) -> Iterator[VirtualSerialPort]:
    port = VirtualSerialPort(tmp_path / "ttyOXIMETER")
    yield port
    port.close()
