"""A private system bus for the whole session (bleak's manager outlives tests) and a fresh org.bluez per test."""
from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.firmware_bridge.ble.fake_bluez import FakeBlueZ
from tests.sysdeps import require_program

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={sock}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>
  </policy>
</busconfig>
"""


@pytest.fixture(scope="session")
def private_system_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One dbus-daemon per session, exported as the system bus bleak and dbus-fast connect to."""
    daemon = require_program("dbus-daemon", "dbus-daemon")
    d: Path = tmp_path_factory.mktemp("dbus")
    conf = d / "bus.conf"
    conf.write_text(BUS_CONFIG.format(sock=d / "system_bus_socket"))
    proc = subprocess.Popen([daemon, f"--config-file={conf}", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
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
