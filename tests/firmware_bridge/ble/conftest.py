"""A private system bus for the whole session (bleak's manager outlives tests) and a fresh org.bluez per test."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from firmware_bridge.simulate.bluez import start_private_bus
from tests.firmware_bridge.ble.fake_bluez import FakeBlueZ
from tests.sysdeps import require_program


@pytest.fixture(scope="session")
def private_system_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One dbus-daemon per session, exported as the system bus bleak and dbus-fast connect to."""
    daemon = require_program("dbus-daemon", "dbus-daemon")
    proc, address = start_private_bus(tmp_path_factory.mktemp("dbus"), daemon)
    old = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
    yield address
    if old is None:
        os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
    else:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = old
    proc.terminate()
    proc.wait(5)


@pytest.fixture
async def fake_bluez(private_system_bus: str) -> AsyncIterator[FakeBlueZ]:
    fake = await FakeBlueZ.start()
    try:
        yield fake
    finally:
        fake.stop()
