"""Bluetooth LE as an async Transport over bleak: one notification or indication per frame.

read() returns one characteristic value in the GATT framing of codecs/gatt_base.py
(`uuid16 LE | length LE | value`), so a codec made with `framed=True` knows which characteristic
sent it; write() takes the same framing and writes each value to the characteristic it names.

Guards against bleak/BlueZ traps:
- a fresh BleakClient per open(), stop_notify + disconnect on close(), and a fresh queue per
  connection, so callbacks of an old connection can never double the readings of a new one;
- notifications are subscribed before anything else (Device Information is read after), and the
  callback only queues, so the first values after connecting are not lost;
- every await on the radio runs under asyncio.timeout (a stuck StartNotify or GATT read never hangs
  the driver);
- BlueZ itself going away (bluetoothd restart: the org.bluez name changes owner) ends the connection
  with TransportError, because bleak alone would wait for a notification forever.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_str

from firmware_bridge.codecs.gatt_base import frame, split_frames, uuid16_of
from firmware_bridge.errors import TransportError
from firmware_bridge.transports.base import PortAbsentError, Transport

_LOGGER = logging.getLogger(__name__)

# Device Information Service 0x180A (DIS v1.1 3.1-3.6): what the device record keeps.
DEVICE_INFORMATION = {
    "manufacturer": "2a29", "model": "2a24", "serial": "2a25", "hardware": "2a27", "firmware": "2a26",
    "software": "2a28",
}
_LOST = object()
_BLUEZ = "org.bluez"


class BleTransport(Transport):
    """One BLE peripheral, found by address or by scanning for its service; notifications as frames."""

    def __init__(self, address: str | None, service_uuid: str, characteristics: list[str], *,
                 scan_timeout: float = 5.0, connect_timeout: float = 10.0, gatt_timeout: float = 5.0,
                 watch_bluez: bool = True) -> None:
        self.address = address.upper() if address else None
        self.service_uuid = normalize_uuid_str(service_uuid)
        self.characteristics = [normalize_uuid_str(c) for c in characteristics]
        self.scan_timeout = scan_timeout
        self.connect_timeout = connect_timeout
        self.gatt_timeout = gatt_timeout
        self.watch_bluez = watch_bluez
        # Manufacturer, model, serial, firmware... of the connected device, for the device record.
        self.device_info: dict[str, str] = {}
        self._client: BleakClient | None = None
        self._queue: asyncio.Queue[object] | None = None
        self._subscribed: list[BleakGATTCharacteristic] = []
        self._watch: Any = None  # a dbus-fast MessageBus watching the org.bluez name
        self._why = ""

    @property
    def is_open(self) -> bool:
        """Whether a connection is up."""
        return self._client is not None and self._client.is_connected

    def describe(self) -> str:
        """e.g. "ble://AA:BB:CC:DD:EE:FF 0x180d" or "ble scan for 0x180d"."""
        short = f"0x{uuid16_of(self.service_uuid):04x}"
        return f"ble://{self.address} {short}" if self.address else f"ble scan for {short}"

    async def open(self) -> None:
        """Find, connect, subscribe, then read Device Information; PortAbsentError if not in range."""
        if self._client is not None:
            return
        device = await self._find()
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._queue, self._why = queue, ""

        def lost(_client: BleakClient) -> None:
            queue.put_nowait(_LOST)

        client = BleakClient(device, disconnected_callback=lost, timeout=self.connect_timeout)
        self._client = client
        try:
            async with asyncio.timeout(self.connect_timeout):
                await client.connect()
            await self._subscribe(client, queue)
            if self.watch_bluez:
                await self._watch_bluez(queue)
            self.device_info = await self._device_info(client, device)
        except (BleakError, TimeoutError, OSError, EOFError) as exc:
            await self.close()
            raise TransportError(f"{self.describe()}: cannot connect: {exc or type(exc).__name__}") from exc
        except BaseException:
            await self.close()
            raise
        _LOGGER.debug("%s: connected, device info %s", self.describe(), self.device_info)

    async def _find(self) -> BLEDevice:
        try:
            if self.address is not None:
                device = await BleakScanner.find_device_by_address(self.address, timeout=self.scan_timeout)
            else:
                wanted = self.service_uuid

                def offers(_d: BLEDevice, adv: AdvertisementData) -> bool:
                    return wanted in adv.service_uuids

                device = await BleakScanner.find_device_by_filter(offers, timeout=self.scan_timeout)
        except (BleakError, OSError, EOFError) as exc:  # no adapter, BlueZ not running, adapter off
            raise PortAbsentError(f"{self.describe()}: cannot scan: {exc}") from exc
        if device is None:
            raise PortAbsentError(f"{self.describe()}: not in range")
        return device

    async def _subscribe(self, client: BleakClient, queue: asyncio.Queue[object]) -> None:
        for uuid in self.characteristics:
            char = client.services.get_characteristic(uuid)
            if char is None or not {"notify", "indicate"} & set(char.properties):
                continue  # e.g. a PLX device with only one of its two measurement characteristics
            uuid16 = uuid16_of(uuid)

            def on_value(_c: BleakGATTCharacteristic, data: bytearray, uuid16: int = uuid16) -> None:
                queue.put_nowait(frame(uuid16, bytes(data)))

            # bleak's StartNotify enables indications when the characteristic only indicates (BP, HTS).
            async with asyncio.timeout(self.gatt_timeout):
                await client.start_notify(char, on_value)
            self._subscribed.append(char)
        if not self._subscribed:
            raise BleakError(f"none of {', '.join(self.characteristics)} can notify or indicate")

    async def _device_info(self, client: BleakClient, device: BLEDevice) -> dict[str, str]:
        info = {"address": device.address}
        if device.name:
            info["name"] = device.name
        for key, uuid in DEVICE_INFORMATION.items():
            char = client.services.get_characteristic(normalize_uuid_str(uuid))
            if char is None or "read" not in char.properties:
                continue
            try:
                async with asyncio.timeout(self.gatt_timeout):
                    raw = await client.read_gatt_char(char)
            except (BleakError, TimeoutError) as exc:  # optional: a device record without it is fine
                _LOGGER.debug("%s: reading %s failed: %s", self.describe(), key, exc)
                continue
            info[key] = bytes(raw).decode("utf-8", "replace").rstrip("\x00").strip()
        return info

    async def _watch_bluez(self, queue: asyncio.Queue[object]) -> None:
        try:
            # lazy: dbus_fast only to watch bluetoothd (BLE devices configured)
            from dbus_fast import BusType, Message, MessageType
            from dbus_fast.aio import MessageBus
        except ImportError:  # not BlueZ (bleak on another OS): nothing to watch
            return
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        self._watch = bus

        def on_message(msg: Message) -> None:
            if (msg.message_type == MessageType.SIGNAL and msg.member == "NameOwnerChanged"
                    and msg.body and msg.body[0] == _BLUEZ):
                self._why = "bluetoothd went away"
                queue.put_nowait(_LOST)

        bus.add_message_handler(on_message)
        rule = ("type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                f"member='NameOwnerChanged',arg0='{_BLUEZ}'")
        await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                               interface="org.freedesktop.DBus", member="AddMatch", signature="s", body=[rule]))

    async def read(self) -> bytes:
        """The next notification or indication as one frame; TransportError when the link is lost."""
        if self._queue is None:
            raise TransportError(f"{self.describe()}: not connected")
        item = await self._queue.get()
        if item is _LOST:
            self._queue.put_nowait(_LOST)  # every later read fails too, until close()
            raise TransportError(f"{self.describe()}: {self._why or 'link lost'}")
        assert isinstance(item, bytes)
        return item

    async def write(self, data: bytes) -> None:
        """Write each framed value to the characteristic it names (e.g. a glucose RACP request)."""
        client = self._client
        if client is None or not client.is_connected:
            raise TransportError(f"{self.describe()}: not connected")
        try:
            frames = split_frames(bytearray(data))
        except ValueError as exc:
            raise TransportError(f"{self.describe()}: bad frame to write: {exc}") from exc
        for uuid16, value in frames:
            char = client.services.get_characteristic(normalize_uuid_str(f"{uuid16:04x}"))
            if char is None:
                _LOGGER.info("%s: no characteristic 0x%04x to write", self.describe(), uuid16)
                continue
            try:
                async with asyncio.timeout(self.gatt_timeout):
                    await client.write_gatt_char(char, value, response=True)
            except (BleakError, TimeoutError, OSError, EOFError) as exc:
                raise TransportError(f"{self.describe()}: write to 0x{uuid16:04x} failed: {exc}") from exc

    async def close(self) -> None:
        """Unsubscribe and disconnect; idempotent, never raises for a link already gone."""
        client, self._client = self._client, None
        subscribed, self._subscribed = self._subscribed, []
        watch, self._watch = self._watch, None
        self._queue = None
        if watch is not None:
            watch.disconnect()
        if client is None:
            return
        for char in subscribed:
            with contextlib.suppress(BleakError, TimeoutError, OSError, EOFError, KeyError):
                async with asyncio.timeout(self.gatt_timeout):
                    await client.stop_notify(char)
        with contextlib.suppress(BleakError, TimeoutError, OSError, EOFError, KeyError):
            async with asyncio.timeout(self.gatt_timeout):
                await client.disconnect()
