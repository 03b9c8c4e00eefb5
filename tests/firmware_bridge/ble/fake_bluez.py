"""The fake bluetoothd now ships with the simulators (edge-app simulate gatt-*); tests use the same one."""
from firmware_bridge.simulate.bluez import *  # noqa: F403
from firmware_bridge.simulate.bluez import FakeBlueZ, FakePeripheral, Profile  # noqa: F401
