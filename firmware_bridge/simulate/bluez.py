"""A fake bluetoothd (org.bluez over dbus-fast) that unmodified bleak talks to: BLE with no radio, for tests
and for `edge-app simulate gatt-*` on a private bus.

Adapted from the test rig's ble_fakebluez_demo.py (the seam bleak's own tests use: a private
dbus-daemon as DBUS_SYSTEM_BUS_ADDRESS, org.bluez served by dbus-fast ServiceInterfaces). dbus-fast
answers GetManagedObjects and emits InterfacesAdded/Removed on export()/unexport(), so GATT objects
appear on Connect and vanish on disconnect as they do under bluetoothd.
"""
# ruff: noqa: N802, E704
# No `from __future__ import annotations`: dbus-fast reads the D-Bus signatures from live annotations.
import asyncio
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from dbus_fast import BusType, DBusError, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusInt16, DBusObjectPath, DBusSignature, DBusStr, DBusUInt16
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property, method

if TYPE_CHECKING:
    from collections.abc import Callable
    from os import PathLike

StrArray = Annotated[list[str], DBusSignature("as")]
Bytes = Annotated[bytes, DBusSignature("ay")]
Options = Annotated[dict[str, Variant], DBusSignature("a{sv}")]
MfrData = Annotated[dict[int, Variant], DBusSignature("a{qv}")]
SvcData = Annotated[dict[str, Variant], DBusSignature("a{sv}")]

CCCD = "00002902-0000-1000-8000-00805f9b34fb"
ADAPTER = "/org/bluez/hci0"
R = PropertyAccess.READ


class Adapter1(ServiceInterface):
    def __init__(self, fake: "FakeBlueZ"):
        super().__init__("org.bluez.Adapter1")
        self.fake = fake
        self.discovering = False
        self.calls: list[str] = []

    @dbus_property(access=R)
    def Address(self) -> DBusStr: return "00:1A:7D:DA:71:13"
    @dbus_property(access=R)
    def Name(self) -> DBusStr: return "ci-rig"
    @dbus_property(access=R)
    def Alias(self) -> DBusStr: return "ci-rig"
    @dbus_property(access=R)
    def Powered(self) -> DBusBool: return True
    @dbus_property(access=R)
    def Discovering(self) -> DBusBool: return self.discovering
    @dbus_property(access=R)
    def Roles(self) -> StrArray: return ["central", "peripheral"]

    @method()
    def SetDiscoveryFilter(self, filter: Options) -> None:
        self.calls.append("SetDiscoveryFilter")

    @method()
    def StartDiscovery(self) -> None:
        if self.discovering:
            raise DBusError("org.bluez.Error.InProgress", "Operation already in progress")
        self.calls.append("StartDiscovery")
        self.discovering = True
        self.emit_properties_changed({"Discovering": True})
        self.fake.radio_on()

    @method()
    def StopDiscovery(self) -> None:
        if not self.discovering:
            raise DBusError("org.bluez.Error.Failed", "No discovery started")
        self.calls.append("StopDiscovery")
        self.discovering = False
        self.emit_properties_changed({"Discovering": False})
        self.fake.radio_off()


class Device1(ServiceInterface):
    def __init__(self, periph: "FakePeripheral"):
        super().__init__("org.bluez.Device1")
        self.p = periph
        self.connected = False
        self.resolved = False
        self.rssi = -70

    @dbus_property(access=R)
    def Address(self) -> DBusStr: return self.p.address
    @dbus_property(access=R)
    def AddressType(self) -> DBusStr: return "random"
    @dbus_property(access=R)
    def Name(self) -> DBusStr: return self.p.name
    @dbus_property(access=R)
    def Alias(self) -> DBusStr: return self.p.name
    @dbus_property(access=R)
    def Adapter(self) -> DBusObjectPath: return ADAPTER
    @dbus_property(access=R)
    def Paired(self) -> DBusBool: return False
    @dbus_property(access=R)
    def Trusted(self) -> DBusBool: return False
    @dbus_property(access=R)
    def Connected(self) -> DBusBool: return self.connected
    @dbus_property(access=R)
    def ServicesResolved(self) -> DBusBool: return self.resolved
    @dbus_property(access=R)
    def UUIDs(self) -> StrArray: return self.p.advertised
    @dbus_property(access=R)
    def RSSI(self) -> DBusInt16: return self.rssi
    @dbus_property(access=R)
    def ManufacturerData(self) -> MfrData: return {0x006B: Variant("ay", b"\x01\x02")}
    @dbus_property(access=R)
    def ServiceData(self) -> SvcData: return {}

    @method()
    async def Connect(self) -> None:
        if self.connected:
            raise DBusError("org.bluez.Error.AlreadyConnected", "Already Connected")
        if not self.p.in_range:
            await asyncio.sleep(0.05)
            raise DBusError("org.bluez.Error.Failed", "le-connection-abort-by-local")
        self.p.connect_count += 1
        await asyncio.sleep(0.01)  # link-layer connection setup
        self.connected = True
        self.emit_properties_changed({"Connected": True})
        self.p.export_gatt()  # -> InterfacesAdded for service/chars/descriptors
        await asyncio.sleep(0.01)  # GATT discovery
        self.resolved = True
        self.emit_properties_changed({"ServicesResolved": True})

    @method()
    def Disconnect(self) -> None:
        self.p.drop_link()

    @method()
    def Pair(self) -> None:
        raise DBusError("org.bluez.Error.AuthenticationFailed", "not supported by fake")


class GattService1(ServiceInterface):
    def __init__(self, uuid: str, device_path: str, handle: int):
        super().__init__("org.bluez.GattService1")
        self.uuid, self.device_path, self.handle = uuid, device_path, handle

    @dbus_property(access=R)
    def UUID(self) -> DBusStr: return self.uuid
    @dbus_property(access=R)
    def Device(self) -> DBusObjectPath: return self.device_path
    @dbus_property(access=R)
    def Primary(self) -> DBusBool: return True
    @dbus_property(access=R)
    def Handle(self) -> DBusUInt16: return self.handle


class GattCharacteristic1(ServiceInterface):
    def __init__(self, uuid: str, service_path: str, handle: int, flags: list[str], value: bytes = b""):
        super().__init__("org.bluez.GattCharacteristic1")
        self.uuid, self.service_path, self.handle, self.flags = uuid, service_path, handle, flags
        self.value, self.notifying = value, False
        self.writes: list[bytes] = []

    @dbus_property(access=R)
    def UUID(self) -> DBusStr: return self.uuid
    @dbus_property(access=R)
    def Service(self) -> DBusObjectPath: return self.service_path
    @dbus_property(access=R)
    def Handle(self) -> DBusUInt16: return self.handle
    @dbus_property(access=R)
    def Flags(self) -> StrArray: return self.flags
    @dbus_property(access=R)
    def Value(self) -> Bytes: return self.value
    @dbus_property(access=R)
    def Notifying(self) -> DBusBool: return self.notifying
    @dbus_property(access=R)
    def MTU(self) -> DBusUInt16: return 247

    @method()
    def ReadValue(self, options: Options) -> Bytes:
        if "read" not in self.flags:
            raise DBusError("org.bluez.Error.NotPermitted", "Read not permitted")
        return self.value

    @method()
    def WriteValue(self, value: Bytes, options: Options) -> None:
        self.writes.append(bytes(value))

    @method()
    def StartNotify(self) -> None:
        self.notifying = True
        self.emit_properties_changed({"Notifying": True})

    @method()
    def StopNotify(self) -> None:
        self.notifying = False
        self.emit_properties_changed({"Notifying": False})

    def push(self, value: bytes) -> None:
        """The peripheral notifies or indicates: bluetoothd turns either into PropertiesChanged(Value)."""
        self.value = value
        if self.notifying:
            self.emit_properties_changed({"Value": value})


class GattDescriptor1(ServiceInterface):
    def __init__(self, uuid: str, char_path: str):
        super().__init__("org.bluez.GattDescriptor1")
        self.uuid, self.char_path = uuid, char_path

    @dbus_property(access=R)
    def UUID(self) -> DBusStr: return self.uuid
    @dbus_property(access=R)
    def Characteristic(self) -> DBusObjectPath: return self.char_path
    @dbus_property(access=R)
    def Value(self) -> Bytes: return b"\x00\x00"

    @method()
    def ReadValue(self, options: Options) -> Bytes:
        return b"\x00\x00"



def uuid128(short: int) -> str:
    """The Bluetooth Base UUID form of a 16-bit UUID."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


# (characteristic uuid16, flags, initial value) per service uuid16.
Profile = dict[int, list[tuple[int, list[str], bytes]]]
DEVICE_INFORMATION: list[tuple[int, list[str], bytes]] = [
    (0x2A29, ["read"], b"Acme Medical"), (0x2A24, ["read"], b"FAKE-1"), (0x2A25, ["read"], b"SN0001\x00"),
    (0x2A26, ["read"], b"1.2.3"),
]


class FakePeripheral:
    """Test-facing model of one BLE health device: its services, its radio range, its link."""

    def __init__(self, fake: "FakeBlueZ", address: str, name: str, profile: Profile) -> None:
        self.fake, self.address, self.name = fake, address, name
        self.path = f"{ADAPTER}/dev_{address.replace(':', '_')}"
        self.in_range = True
        self.connect_count = 0
        self.device = Device1(self)
        self.exported = False
        self.advertised = [uuid128(s) for s in profile if s != 0x180A]
        self.gatt: dict[str, ServiceInterface] = {}
        self.chars: dict[int, GattCharacteristic1] = {}
        handle = 0x0C
        for service, chars in {**profile, 0x180A: DEVICE_INFORMATION}.items():
            svc = f"{self.path}/service{handle:04x}"
            self.gatt[svc] = GattService1(uuid128(service), self.path, handle)
            for uuid16, flags, value in chars:
                handle += 1
                path = f"{svc}/char{handle:04x}"
                char = GattCharacteristic1(uuid128(uuid16), svc, handle, flags, value)
                self.gatt[path] = self.chars[uuid16] = char
                if {"notify", "indicate"} & set(flags):
                    handle += 1
                    self.gatt[f"{path}/desc{handle:04x}"] = GattDescriptor1(CCCD, path)
            handle += 4

    def advertise(self) -> None:
        if not self.in_range or self.device.connected:
            return
        if not self.exported:  # first sighting -> InterfacesAdded
            self.fake.bus.export(self.path, self.device)
            self.exported = True
        else:
            self.device.rssi = -60 if self.device.rssi != -60 else -61
            self.device.emit_properties_changed({"RSSI": self.device.rssi})

    def export_gatt(self) -> None:
        for path, iface in self.gatt.items():
            self.fake.bus.export(path, iface)

    def drop_link(self) -> None:
        if not self.device.connected:
            return
        self.device.resolved = False
        self.device.emit_properties_changed({"ServicesResolved": False})
        for path in reversed(list(self.gatt)):
            self.fake.bus.unexport(path)  # -> InterfacesRemoved
        for ch in self.chars.values():
            ch.notifying = False
        self.device.connected = False
        self.device.emit_properties_changed({"Connected": False})

    def send(self, uuid16: int, value: bytes) -> None:
        """A notification or indication of one characteristic value."""
        self.chars[uuid16].push(value)

    def subscribed(self, uuid16: int) -> bool:
        """Whether the central has enabled notifications/indications on a characteristic."""
        return self.chars[uuid16].notifying

    def walk_away(self) -> None:
        self.in_range = False
        self.drop_link()

    def come_back(self) -> None:
        self.in_range = True


class FakeBlueZ:
    """Owns org.bluez on the private bus; stop() is bluetoothd going away."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.adapter = Adapter1(self)
        self.peripherals: list[FakePeripheral] = []
        self._radio: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls) -> "FakeBlueZ":
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        fake = cls(bus)
        bus.export(ADAPTER, fake.adapter)
        await bus.request_name("org.bluez")
        return fake

    def add(self, profile: Profile, address: str = "C0:FF:EE:00:00:01", name: str = "FAKE") -> FakePeripheral:
        p = FakePeripheral(self, address, name, profile)
        self.peripherals.append(p)
        return p

    def radio_on(self) -> None:
        async def loop() -> None:
            while True:
                for p in self.peripherals:
                    p.advertise()
                await asyncio.sleep(0.05)
        self._radio = asyncio.get_running_loop().create_task(loop())

    def radio_off(self) -> None:
        if self._radio:
            self._radio.cancel()
            self._radio = None

    def stop(self) -> None:
        self.radio_off()
        self.bus.disconnect()


PRIVATE_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
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


def start_private_bus(directory: "str | PathLike[str]", dbus_daemon: str = "dbus-daemon",
                      preexec_fn: "Callable[[], object] | None" = None) -> "tuple[subprocess.Popen[str], str]":
    """A dbus-daemon of our own to stand in for the system bus: (process, address)."""
    d = Path(directory)
    conf = d / "bus.conf"
    conf.write_text(PRIVATE_BUS_CONFIG.format(sock=d / "system_bus_socket"))
    proc = subprocess.Popen([dbus_daemon, f"--config-file={conf}", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True, preexec_fn=preexec_fn)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()
