"""Driver(BleTransport, GATT codec) through unmodified bleak against the fake bluetoothd, per profile."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from firmware_bridge.codecs import codec_for
from firmware_bridge.codecs.gatt_base import frame
from firmware_bridge.codecs.ieee11073 import encode_float, encode_sfloat
from firmware_bridge.driver import DeviceState, Driver, DriverStatus
from firmware_bridge.errors import TransportError
from firmware_bridge.reading import Reading
from firmware_bridge.transports.base import PortAbsentError
from firmware_bridge.transports.ble import BleTransport
from tests.firmware_bridge.ble.fake_bluez import FakeBlueZ, FakePeripheral, Profile
from tests.firmware_bridge.waiting import wait_for

HR: Profile = {0x180D: [(0x2A37, ["notify"], b""), (0x2A38, ["read"], b"\x01")]}
BP: Profile = {0x1810: [(0x2A35, ["indicate"], b""), (0x2A49, ["read"], b"\x00\x00")]}
PLX: Profile = {0x1822: [(0x2A5E, ["indicate"], b""), (0x2A5F, ["notify"], b"")]}
TEMP: Profile = {0x1809: [(0x2A1C, ["indicate"], b"")]}
GLUCOSE: Profile = {0x1808: [(0x2A18, ["notify"], b""), (0x2A52, ["write", "indicate"], b"")]}
# What the daemon passes per protocol: the service, and the characteristics to subscribe to.
SETUP = {
    "gatt-heart-rate": ("180d", ["2a37"]),
    "gatt-blood-pressure": ("1810", ["2a35"]),
    "gatt-plx": ("1822", ["2a5e", "2a5f"]),
    "gatt-temperature": ("1809", ["2a1c"]),
    "gatt-glucose": ("1808", ["2a18", "2a52"]),
}


@dataclass
class Run:
    driver: Driver
    transport: BleTransport
    readings: list[Reading] = field(default_factory=list)
    states: list[DeviceState] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        return [float(r.value) for r in self.readings if r.metric == metric]


@asynccontextmanager
async def driving(protocol: str, address: str | None) -> AsyncIterator[Run]:
    service, chars = SETUP[protocol]
    transport = BleTransport(address, service, chars, scan_timeout=0.5, connect_timeout=3, gatt_timeout=2)
    run = Run(None, transport)  # type: ignore[arg-type]

    def on_status(s: DriverStatus) -> None:
        if not run.states or run.states[-1] != s.state:
            run.states.append(s.state)

    run.driver = Driver(protocol, transport, codec_for(protocol, framed=True),
                        on_readings=lambda rs, _t: run.readings.extend(rs), on_status=on_status,
                        codec_factory=lambda: codec_for(protocol, framed=True))
    task = asyncio.get_running_loop().create_task(run.driver.run())
    try:
        yield run
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def connected(run: Run, periph: FakePeripheral, uuid16: int) -> None:
    await wait_for(lambda: run.driver.status.state == DeviceState.CONNECTED and periph.subscribed(uuid16),
                   timeout=5, what="connected and subscribed")


async def test_heart_rate_notifications_by_scan_with_device_information(fake_bluez: FakeBlueZ) -> None:
    strap = fake_bluez.add(HR, name="HRM-FAKE")
    async with driving("gatt-heart-rate", None) as run:
        await connected(run, strap, 0x2A37)
        for value in (b"\x00\x48", b"\x01\x2c\x01", bytes.fromhex("1e5532002100")):
            strap.send(0x2A37, value)
        await wait_for(lambda: len(run.values("heart_rate")) == 3, what="3 heart rates")
        assert run.values("heart_rate") == [72, 300, 85]
        assert run.values("energy_expended") == [50] and run.values("rr_interval") == [0.03]  # 33/1024 s, to 2 decimals
        assert run.transport.device_info == {"address": strap.address, "name": "HRM-FAKE", "manufacturer": "Acme Medical",
                                             "model": "FAKE-1", "serial": "SN0001", "firmware": "1.2.3"}
    assert not strap.device.connected and not strap.subscribed(0x2A37)


async def test_blood_pressure_indications_by_address(fake_bluez: FakeBlueZ) -> None:
    cuff = fake_bluez.add(BP, address="C0:FF:EE:00:00:02")
    async with driving("gatt-blood-pressure", cuff.address.lower()) as run:
        await connected(run, cuff, 0x2A35)
        cuff.send(0x2A35, bytes.fromhex("1e8a00580078000000041114293b3c00012700"))
        await wait_for(lambda: run.values("pulse_rate"), what="a blood pressure")
        assert (run.values("bp_systolic"), run.values("bp_diastolic"), run.values("bp_mean")) == ([138], [88], [120])


async def test_plx_spot_check_and_continuous(fake_bluez: FakeBlueZ) -> None:
    ox = fake_bluez.add(PLX)
    async with driving("gatt-plx", ox.address) as run:
        await connected(run, ox, 0x2A5F)
        assert ox.subscribed(0x2A5E)
        # The same 5 bytes on either characteristic; the framing says which one it was.
        ox.send(0x2A5F, b"\x00" + encode_sfloat(97) + encode_sfloat(61))
        ox.send(0x2A5E, bytes.fromhex("0facf3bef5e8070b1d170839204022000066e3"))
        await wait_for(lambda: len(run.values("spo2")) == 2, what="two SpO2 readings")
        assert run.values("spo2") == [97, 94] and run.values("pulse_rate") == [61, 147]
        assert run.readings[-1].device_time is not None


async def test_temperature_indication(fake_bluez: FakeBlueZ) -> None:
    thermo = fake_bluez.add(TEMP)
    async with driving("gatt-temperature", thermo.address) as run:
        await connected(run, thermo, 0x2A1C)
        thermo.send(0x2A1C, b"\x01" + encode_float(986, -1))  # 98.6 F
        await wait_for(lambda: run.values("temperature"), what="a temperature")
        assert abs(run.values("temperature")[0] - 37.0) < 1e-9


async def test_glucose_meter_is_asked_for_its_last_record(fake_bluez: FakeBlueZ) -> None:
    meter = fake_bluez.add(GLUCOSE)
    async with driving("gatt-glucose", meter.address) as run:
        await wait_for(lambda: meter.chars[0x2A52].writes, timeout=5, what="an RACP request")
        assert meter.chars[0x2A52].writes == [b"\x01\x06"]
        meter.send(0x2A18, bytes.fromhex("06" "0100" "e807010c0a0000") + encode_sfloat(55, -4) + b"\x11")
        await wait_for(lambda: run.values("glucose"), what="a glucose")
        assert run.values("glucose") == [5.5]


async def test_device_that_walks_away_is_searched_for_then_picked_up_again(fake_bluez: FakeBlueZ) -> None:
    strap = fake_bluez.add(HR)
    async with driving("gatt-heart-rate", strap.address) as run:
        await connected(run, strap, 0x2A37)
        strap.send(0x2A37, b"\x00\x46")
        await wait_for(lambda: run.values("heart_rate") == [70], what="70 bpm")
        strap.walk_away()
        await wait_for(lambda: run.driver.status.state == DeviceState.SEARCHING, timeout=5, what="searching")
        strap.come_back()
        await connected(run, strap, 0x2A37)
        strap.send(0x2A37, b"\x00\x47")
        await wait_for(lambda: run.values("heart_rate") == [70, 71], what="71 bpm, once")
        await asyncio.sleep(0.1)
        assert run.values("heart_rate") == [70, 71]  # no callback of the old connection doubles it
        assert strap.connect_count == 2
        # link lost -> error; not in range -> searching; back -> connected
        assert run.states == [DeviceState.CONNECTED, DeviceState.ERROR, DeviceState.SEARCHING, DeviceState.CONNECTED]


async def test_bluetoothd_going_away_and_returning_is_survived(private_system_bus: str) -> None:
    first = await FakeBlueZ.start()
    strap = first.add(HR)
    try:
        async with driving("gatt-heart-rate", strap.address) as run:
            await connected(run, strap, 0x2A37)
            strap.send(0x2A37, b"\x00\x40")
            await wait_for(lambda: run.values("heart_rate") == [64], what="64 bpm")
            first.stop()  # bluetoothd dies: org.bluez vanishes with every object under it
            await wait_for(lambda: run.driver.status.state != DeviceState.CONNECTED, timeout=5, what="link down")
            second = await FakeBlueZ.start()
            try:
                again = second.add(HR)
                await connected(run, again, 0x2A37)
                again.send(0x2A37, b"\x00\x41")
                await wait_for(lambda: run.values("heart_rate") == [64, 65], timeout=5, what="65 bpm")
            finally:
                second.stop()
    finally:
        first.stop()


async def test_open_when_absent_is_port_absent_and_reads_fail_after_close(fake_bluez: FakeBlueZ) -> None:
    transport = BleTransport("C0:FF:EE:00:00:99", "180d", ["2a37"], scan_timeout=0.3)
    with pytest.raises(PortAbsentError, match="not in range"):
        await transport.open()
    with pytest.raises(TransportError):
        await transport.read()
    await transport.close()
    await transport.close()


async def test_device_without_the_characteristics_is_a_transport_error(fake_bluez: FakeBlueZ) -> None:
    thermo = fake_bluez.add(TEMP)
    transport = BleTransport(thermo.address, "1809", ["2a37"], scan_timeout=0.5)
    with pytest.raises(TransportError, match="cannot connect"):
        await transport.open()
    assert not thermo.device.connected and not transport.is_open


def test_framing_matches_the_codecs() -> None:
    assert frame(0x2A37, b"\x00\x48") == bytes.fromhex("372a02000048")
