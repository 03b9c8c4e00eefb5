"""Simulated Bluetooth LE health devices (`edge-app simulate gatt-…`), served by the fake bluetoothd on a
private D-Bus (never the real system bus: bluetoothd owns org.bluez there)."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from firmware_bridge.codecs.ieee11073 import encode_float, encode_sfloat
from firmware_bridge.protocols import SPECS, find_spec, resolve
from firmware_bridge.simulate.patient import PatientModel, Vitals

Encoder = Callable[[Vitals, int], bytes | None]


def _hr(v: Vitals, tick: int) -> bytes:
    return bytes([0x00, v.pulse_rate])  # GATT 0x2A37: flags 0 (uint8 rate, no contact bits)


def _plx(v: Vitals, tick: int) -> bytes:
    return b"\x00" + encode_sfloat(v.spo2) + encode_sfloat(v.pulse_rate)  # 0x2A5F continuous, no options


def _bp(v: Vitals, tick: int) -> bytes | None:
    if tick % 30:
        return None  # a cuff cycles every few minutes; here every 30 ticks
    sys_, dia = 110 + (v.pulse_rate % 20), 70 + (v.pulse_rate % 10)
    # 0x2A35: flags 0x00 (mmHg, no time, no pulse), systolic, diastolic, mean arterial pressure
    return b"\x00" + encode_sfloat(sys_) + encode_sfloat(dia) + encode_sfloat(round((sys_ + 2 * dia) / 3))


def _temp(v: Vitals, tick: int) -> bytes | None:
    if tick % 10:
        return None
    return b"\x00" + encode_float(365 + v.pulse_rate % 10, -1)  # 0x2A1C: flags 0 (Celsius), FLOAT (36.5-37.4)


def _never(v: Vitals, tick: int) -> None:
    return None  # a glucose meter sends records only when asked (GlucoseMeter)


@dataclass
class GlucoseMeter:
    """A meter's record store, as the Glucose Profile has it: nothing is sent unasked. A new test strip
    every `every` ticks makes a record; a "report last record" written to the Record Access Control
    Point (0x2A52) is answered with that record on Glucose Measurement (0x2A18), then the RACP's own
    "success" indication. Values in kg/L as most meters send them (the codec converts to mmol/L)."""

    every: int = 120
    sequence: int = 0
    last: bytes | None = None
    answered: int = 0  # RACP writes already answered

    def tick(self, patient: PatientModel, tick: int) -> None:
        if tick % self.every == 0:
            self.sequence = (self.sequence + 1) & 0xFFFF
            mmol = round(patient.rng.uniform(4.0, 9.0), 1)
            mg_dl = round(mmol * 18.016)  # the codec's factor: kg/L = mg/dL / 100 000
            t = datetime.now(UTC)
            self.last = (b"\x02" + self.sequence.to_bytes(2, "little") + t.year.to_bytes(2, "little")
                         + bytes((t.month, t.day, t.hour, t.minute, t.second)) + encode_sfloat(mg_dl, -5)
                         + b"\x11")  # capillary whole blood, finger

    def answer(self, device: Any) -> None:
        writes = device.chars[0x2A52].writes
        for request in writes[self.answered:]:
            if request == b"\x01\x06" and self.last is not None:  # report stored records: last record
                device.send(0x2A18, self.last)
                device.send(0x2A52, b"\x06\x00\x01\x01")  # response code: to "report", success
            else:
                device.send(0x2A52, b"\x06\x00" + request[:1] + b"\x02")  # op code not supported
        self.answered = len(writes)


GattProfile = dict[int, list[tuple[int, list[str], bytes]]]  # service -> (characteristic, flags, initial value)


@dataclass(frozen=True, slots=True)
class BleSimulator:
    """One simulated device: its GATT profile on the fake, the characteristic carrying values, how each tick's
    value is made, and the name it advertises; `keeps_records`: a meter answering the RACP (GlucoseMeter)."""

    profile: GattProfile
    value_char: int
    encode: Encoder
    name: str
    keeps_records: bool = False


# Named by the protocol registry (firmware_bridge.protocols, ble_simulator).
HEART_RATE = BleSimulator({0x180D: [(0x2A37, ["notify"], b""), (0x2A38, ["read"], b"\x01")]}, 0x2A37, _hr, "SIM-HRM")
PULSE_OXIMETER = BleSimulator({0x1822: [(0x2A5E, ["indicate"], b""), (0x2A5F, ["notify"], b"")]}, 0x2A5F, _plx,
                              "SIM-PLX")
BLOOD_PRESSURE = BleSimulator({0x1810: [(0x2A35, ["indicate"], b""), (0x2A49, ["read"], b"\x00\x00")]}, 0x2A35, _bp,
                              "SIM-BP")
THERMOMETER = BleSimulator({0x1809: [(0x2A1C, ["indicate"], b"")]}, 0x2A1C, _temp, "SIM-THERMO")
GLUCOSE_METER = BleSimulator({0x1808: [(0x2A18, ["notify"], b""), (0x2A52, ["write", "indicate"], b"")]}, 0x2A18,
                             _never, "SIM-GLUCOSE", keeps_records=True)


def ble_simulated_protocols() -> list[str]:
    """Names of the protocols `edge-app simulate --bus` can simulate, in registry order."""
    return [str(s.name) for s in SPECS if s.ble_simulator is not None]


def ble_simulator_for(protocol: str) -> BleSimulator:
    """The simulated device of a protocol; ValueError names the protocols that have one."""
    spec = find_spec(protocol)
    if spec is None or spec.ble_simulator is None:
        raise ValueError(f"cannot simulate {protocol!r} over BLE; simulated: {', '.join(ble_simulated_protocols())}")
    sim = resolve(spec.ble_simulator)
    if not isinstance(sim, BleSimulator):
        raise TypeError(f"registry: {spec.ble_simulator} is not a BleSimulator")
    return sim


async def serve(protocol: str, *, address: str, rate_hz: float, seed: int | None,
                stop: asyncio.Event) -> None:
    """Own org.bluez on the bus in DBUS_SYSTEM_BUS_ADDRESS and send values while the central listens."""
    # Imported here: dbus-fast is needed only once a device is served, not to check arguments or encode values.
    # lazy: dbus_fast only when a BLE device is simulated
    from firmware_bridge.simulate.bluez import FakeBlueZ

    sim = ble_simulator_for(protocol)
    fake = await FakeBlueZ.start()
    device = fake.add(sim.profile, address=address, name=sim.name)
    fake.radio_on()
    patient = PatientModel(seed)
    meter = GlucoseMeter() if sim.keeps_records else None
    tick = 0
    try:
        while not stop.is_set():
            vitals = patient.step()
            value = sim.encode(vitals, tick)
            if value is not None and device.subscribed(sim.value_char):
                device.send(sim.value_char, value)
            if meter is not None:
                meter.tick(patient, tick)
                meter.answer(device)
            tick += 1
            try:
                await asyncio.wait_for(stop.wait(), 1 / rate_hz)
            except asyncio.TimeoutError:
                pass
    finally:
        fake.stop()


def simulate_ble_main(protocol: str, *, address: str | None, rate_hz: float, seed: int | None) -> int:
    """`edge-app simulate gatt-… --bus`: exit 2 with a reason when it cannot run."""
    try:
        ble_simulator_for(protocol)
    except ValueError as exc:
        print(f"edge-app: {exc}", file=sys.stderr)
        return 2
    if not os.environ.get("DBUS_SYSTEM_BUS_ADDRESS"):
        print("edge-app: set DBUS_SYSTEM_BUS_ADDRESS to a private bus (e.g. from `dbus-daemon --session "
              "--print-address --fork`); the real bluetoothd owns org.bluez on the system bus", file=sys.stderr)
        return 2
    addr = address or "C0:FF:EE:00:00:01"
    print(f"simulating {protocol} as {addr} on {os.environ['DBUS_SYSTEM_BUS_ADDRESS']}; Ctrl+C to stop", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(protocol, address=addr, rate_hz=rate_hz, seed=seed, stop=stop)

    try:
        asyncio.run(main())
    except Exception as exc:  # the bus went away, or org.bluez is taken
        print(f"edge-app simulate: {exc}", file=sys.stderr)
        return 1
    return 0


