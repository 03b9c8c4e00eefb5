"""Every monitor protocol the bridge speaks, in one registry: its name (a contract: config and `edge-app
decode` use it; never rename one), codec, transport, config options, BLE profile, the doctor's hint and
its simulators. Config, the daemon, doctor, decode and simulate all read it, so a new protocol is one
`ProtocolSpec` here plus its codec (and simulator) module.

Import-cheap on purpose (the daemon must reach READY fast): codecs and simulators are named by
"package.module:attribute" references and imported by `resolve()` only when first used.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from firmware_bridge.errors import UnknownProtocolError


class ProtocolName(StrEnum):
    """Protocol names used in config and by `edge-app decode` (a contract: never rename one)."""

    MASIMO_ASCII = "masimo-ascii"
    NONIN_DF2 = "nonin-df2"
    NONIN_DF7 = "nonin-df7"
    NONIN_DF8 = "nonin-df8"
    NONIN_DF13 = "nonin-df13"
    HL7_ORU = "hl7-oru"
    GATT_HEART_RATE = "gatt-heart-rate"
    GATT_PLX = "gatt-plx"
    GATT_BLOOD_PRESSURE = "gatt-blood-pressure"
    GATT_TEMPERATURE = "gatt-temperature"
    GATT_GLUCOSE = "gatt-glucose"


class TransportKind(StrEnum):
    """How the bytes of a protocol reach the bridge."""

    SERIAL = "serial"  # any pyserial URL (a tty, or socket:// to a terminal server)
    SERIAL_OR_TCP = "serial-or-tcp"  # as serial, or port = "tcp://HOST:PORT" out, or listen = "HOST:PORT" in
    BLE = "ble"  # Bluetooth LE notifications, by address or by scanning for the service


class DeviceOption(StrEnum):
    """Keys of a config [[devices]] table beyond name and protocol; each is a DeviceConfig field too."""

    PORT = "port"
    BAUDRATE = "baudrate"
    ADDRESS = "address"
    LISTEN = "listen"
    SET_FORMAT = "set_format"
    SET_CLOCK = "set_clock"


OptionValue = str | int | bool | None


@dataclass(frozen=True, slots=True)
class Option:
    """A config key a protocol takes, and its value when the table leaves it out."""

    key: DeviceOption
    default: OptionValue = None


@dataclass(frozen=True, slots=True)
class BleProfile:
    """The Bluetooth SIG service to find a device by, and the characteristics its codec subscribes to."""

    service: int
    characteristics: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    """What the app knows about one protocol. `codec`, `frame_source` and `ble_simulator` are
    "package.module:attribute" references (see resolve); `no_frames_hint` completes doctor's
    "wrong output mode: ..." when bytes arrive but no frame decodes."""

    name: ProtocolName
    codec: str
    transport: TransportKind
    options: tuple[Option, ...]
    no_frames_hint: str
    ble: BleProfile | None = None
    frame_source: str | None = None  # a FrameSource class: `edge-app simulate --port/--pty`
    ble_simulator: str | None = None  # a simulate.ble.BleSimulator: `edge-app simulate --bus`
    # Other devices speaking the protocol, by profile name: `edge-app simulate PROTOCOL --profile NAME`
    frame_profiles: tuple[tuple[str, str], ...] = ()

    def takes(self, key: DeviceOption) -> bool:
        """Whether a device of this protocol may set this config key."""
        return any(o.key is key for o in self.options)

    def default(self, key: DeviceOption, fallback: OptionValue = None) -> OptionValue:
        """The key's default for this protocol; fallback for a key it does not take."""
        return next((o.default for o in self.options if o.key is key), fallback)

    def codec_options(self, config: Mapping[str, object], clock_ms: Callable[[], int]) -> dict[str, object]:
        """The codec's keyword options for one connection, from the device's config values (DeviceConfig fields)."""
        options: dict[str, object] = {}
        if self.transport is TransportKind.BLE:
            options["framed"] = True  # the BLE transport frames each notification with its characteristic
        if self.takes(DeviceOption.SET_FORMAT) and config.get(DeviceOption.SET_FORMAT):
            options["set_format"] = True
        if self.takes(DeviceOption.SET_CLOCK) and config.get(DeviceOption.SET_CLOCK):
            options["set_clock_ms"] = clock_ms()  # read at connect time: a codec never reads the clock
        return options


def resolve(ref: str) -> object:
    """The object a "package.module:attribute" reference names, importing its module on first use."""
    module, sep, attribute = ref.partition(":")
    if not sep:
        raise ValueError(f"expected 'package.module:attribute', got {ref!r}")
    return getattr(importlib.import_module(module), attribute)


_SERIAL = (Option(DeviceOption.PORT), Option(DeviceOption.BAUDRATE, 9600))
_SERIAL_OR_TCP = (*_SERIAL, Option(DeviceOption.LISTEN))
# Nonin host commands on connect: select the data format, set the monitor's clock (off unless asked).
_NONIN = (*_SERIAL, Option(DeviceOption.SET_FORMAT, False), Option(DeviceOption.SET_CLOCK, False))
_BLE = (Option(DeviceOption.ADDRESS),)  # none: the first device advertising the service


def _nonin(name: ProtocolName, data_format: str, codec: str) -> ProtocolSpec:
    return ProtocolSpec(name, f"firmware_bridge.codecs.nonin:{codec}Codec", TransportKind.SERIAL, _NONIN,
                        f"set the oximeter to serial data format {data_format}",
                        frame_source=f"firmware_bridge.simulate.nonin:{codec}Simulator")


def _gatt(name: ProtocolName, codec: str, simulator: str, service: int, *characteristics: int) -> ProtocolSpec:
    return ProtocolSpec(name, f"firmware_bridge.codecs.{codec}", TransportKind.BLE, _BLE,
                        f"set the monitor to the {name} format", ble=BleProfile(service, characteristics),
                        ble_simulator=f"firmware_bridge.simulate.ble:{simulator}")


SPECS: tuple[ProtocolSpec, ...] = (
    ProtocolSpec(ProtocolName.MASIMO_ASCII, "firmware_bridge.codecs.masimo_ascii:MasimoAsciiCodec",
                 TransportKind.SERIAL, _SERIAL,
                 "set the monitor's serial output to ASCII 1 (e.g. a Rad-8 left in ASCII 2 sends this)",
                 frame_source="firmware_bridge.simulate.masimo:MasimoSimulator"),
    _nonin(ProtocolName.NONIN_DF2, "2", "NoninDf2"),
    _nonin(ProtocolName.NONIN_DF7, "7", "NoninDf7"),
    _nonin(ProtocolName.NONIN_DF8, "8", "NoninDf8"),
    _nonin(ProtocolName.NONIN_DF13, "13", "NoninDf13"),
    ProtocolSpec(ProtocolName.HL7_ORU, "firmware_bridge.codecs.hl7_oru:Hl7OruCodec", TransportKind.SERIAL_OR_TCP,
                 _SERIAL_OR_TCP, "set the monitor to send HL7 v2 ORU^R01 framed with MLLP",
                 frame_source="firmware_bridge.simulate.hl7:Hl7Simulator",
                 frame_profiles=(("cuff", "firmware_bridge.simulate.cuff:Hl7CuffSimulator"),)),
    # Bluetooth SIG services, and the characteristics each profile's codec reads (glucose: and its RACP).
    _gatt(ProtocolName.GATT_HEART_RATE, "gatt_heart_rate:GattHeartRateCodec", "HEART_RATE", 0x180D, 0x2A37),
    _gatt(ProtocolName.GATT_PLX, "gatt_plx:GattPlxCodec", "PULSE_OXIMETER", 0x1822, 0x2A5E, 0x2A5F),
    _gatt(ProtocolName.GATT_BLOOD_PRESSURE, "gatt_blood_pressure:GattBloodPressureCodec", "BLOOD_PRESSURE",
          0x1810, 0x2A35),
    _gatt(ProtocolName.GATT_TEMPERATURE, "gatt_temperature:GattTemperatureCodec", "THERMOMETER", 0x1809, 0x2A1C),
    _gatt(ProtocolName.GATT_GLUCOSE, "gatt_glucose:GattGlucoseCodec", "GLUCOSE_METER", 0x1808, 0x2A18, 0x2A52),
)
_BY_NAME: dict[str, ProtocolSpec] = {str(s.name): s for s in SPECS}


def find_spec(protocol: str) -> ProtocolSpec | None:
    """The spec of a protocol name; None for a name the registry does not have."""
    return _BY_NAME.get(protocol)


def spec_for(protocol: str) -> ProtocolSpec:
    """The spec of a protocol name; UnknownProtocolError names the ones that exist."""
    spec = _BY_NAME.get(protocol)
    if spec is None:
        raise UnknownProtocolError(f"unknown protocol {protocol!r}; implemented: {', '.join(protocol_names())}")
    return spec


def protocol_names(transport: TransportKind | None = None) -> list[str]:
    """Sorted names of every protocol in the registry (or of those over one transport)."""
    return sorted(str(s.name) for s in SPECS if transport is None or s.transport is transport)
