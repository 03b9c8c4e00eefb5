"""The app's consumers of the protocol registry know exactly its protocols: config accepts each (with the
options its spec takes, and their defaults) and nothing else; the daemon makes a transport and codec for
each; doctor has a hint for each; `edge-app decode` knows each; the README names each."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import pytest

from edge_app import config
from edge_app.cli import doctor_radio
from edge_app.cli.doctor import _mode_hint
from edge_app.cli.main import main
from edge_app.config import DeviceConfig
from edge_app.daemon.devices import DeviceSupervisor, make_transport
from edge_app.services.hub import Hub
from edge_app.errors import ConfigError
from edge_app.store.writer import Writer
from firmware_bridge.codecs import codec_class
from firmware_bridge.codecs.gatt_base import GattCodec
from firmware_bridge.protocols import SPECS, DeviceOption, ProtocolSpec, TransportKind, protocol_names
from firmware_bridge.transports.ble import BleTransport
from firmware_bridge.transports.serial import SerialTransport
from firmware_bridge.transports.tcp import TcpConnectTransport, TcpListenTransport

ROOT = Path(__file__).resolve().parents[2]
IDS = [str(s.name) for s in SPECS]
# A valid value for each option, and the DeviceConfig field value it parses to.
VALUES: dict[DeviceOption, tuple[Any, Any]] = {
    DeviceOption.PORT: ("/dev/ttyUSB0", "/dev/ttyUSB0"),
    DeviceOption.BAUDRATE: (19200, 19200),
    DeviceOption.ADDRESS: ("C0:FF:EE:00:00:11", "C0:FF:EE:00:00:11"),
    DeviceOption.LISTEN: ("0.0.0.0:2575", ("0.0.0.0", 2575)),
    DeviceOption.SET_FORMAT: (True, True),
    DeviceOption.SET_CLOCK: (True, True),
}


def table(spec: ProtocolSpec, **extra: Any) -> dict[str, Any]:
    """The smallest valid [[devices]] table for the protocol: a port where it takes one."""
    t: dict[str, Any] = {"name": "m", "protocol": str(spec.name)}
    if spec.takes(DeviceOption.PORT):
        t["port"] = "/dev/ttyUSB0"
    return {**t, **extra}


def device(t: dict[str, Any]) -> DeviceConfig:
    return config.parse({"devices": [t]}, None).devices[0]


def test_every_option_is_a_device_config_field() -> None:
    assert {str(o) for o in DeviceOption} <= {f.name for f in dataclasses.fields(DeviceConfig)}
    assert set(VALUES) == set(DeviceOption)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_config_accepts_each_protocol_with_its_defaults(spec: ProtocolSpec) -> None:
    dev = device(table(spec))
    assert dev.protocol == spec.name
    for option in spec.options:
        if option.default is not None:
            assert getattr(dev, option.key) == option.default, option.key


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_config_takes_the_options_of_the_spec_and_no_others(spec: ProtocolSpec) -> None:
    for option in spec.options:
        raw, parsed = VALUES[option.key]
        t = table(spec, **{option.key: raw})
        if option.key is DeviceOption.LISTEN:
            del t["port"]  # listen instead of a port, not both
        assert getattr(device(t), option.key) == parsed, option.key
    for key in set(DeviceOption) - {o.key for o in spec.options}:
        raw, _ = VALUES[key]
        if key is DeviceOption.BAUDRATE:
            assert device(table(spec, baudrate=raw)).protocol == spec.name  # tolerated over BLE, as always
            continue
        with pytest.raises(ConfigError, match=rf"devices\[0\]\.{key}: "):
            device(table(spec, **{key: raw}))


def test_config_refuses_an_unknown_protocol_naming_the_registry() -> None:
    with pytest.raises(ConfigError) as err:
        device({"name": "m", "protocol": "masimo-ascii2", "port": "/dev/x"})
    assert str(err.value).endswith(f"unknown protocol 'masimo-ascii2' (known: {', '.join(protocol_names())})")


def supervisor(dev: DeviceConfig) -> DeviceSupervisor:
    # The supervisor only keeps the writer until readings arrive; none do here.
    return DeviceSupervisor(dev, cast(Writer, None), Hub())


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_daemon_makes_a_transport_and_codec_for_each(spec: ProtocolSpec) -> None:
    options = {str(o.key): VALUES[o.key][0] for o in spec.options if o.key is not DeviceOption.LISTEN}
    sup = supervisor(device(table(spec, **options)))
    codec = sup._new_codec()
    assert type(codec) is codec_class(spec.name)
    if spec.ble:
        assert isinstance(sup.driver.transport, BleTransport)
        assert sup.driver.transport.service_uuid == f"0000{spec.ble.service:04x}-0000-1000-8000-00805f9b34fb"
        assert len(sup.driver.transport.characteristics) == len(spec.ble.characteristics)
        assert isinstance(codec, GattCodec) and codec.framed
    else:
        assert isinstance(sup.driver.transport, SerialTransport)
    if spec.takes(DeviceOption.SET_FORMAT):
        assert codec.on_connect(), "set_format and set_clock: host commands on connect"
    if spec.takes(DeviceOption.LISTEN):
        t = table(spec, listen="127.0.0.1:2575")
        del t["port"]
        assert isinstance(make_transport(device(t)), TcpListenTransport)
        out = device(table(spec, port="tcp://10.0.0.5:2575"))
        assert isinstance(make_transport(out), TcpConnectTransport)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_doctor_has_a_hint_for_each(spec: ProtocolSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    dev = device(table(spec))
    assert _mode_hint(dev).startswith(f"wrong output mode: {spec.no_frames_hint}, at ")
    assert f"edge-app decode {spec.name} --file CAPTURE" in _mode_hint(dev)

    def no_bluez() -> Any:
        raise RuntimeError("no bus in this test")

    monkeypatch.setattr(doctor_radio, "_bluez_objects", no_bluez)
    cfg = config.parse({"devices": [table(spec)]}, None)
    rows = doctor_radio.bluetooth_checks(cfg, {})
    assert [r.check for r in rows] == (["bluetooth"] if spec.transport is TransportKind.BLE else [])


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_decode_knows_each(spec: ProtocolSpec, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", str(spec.name), "--hex", ""]) == 2
    assert capsys.readouterr().err == "edge-app: input is empty\n", "the codec was found; only the input is empty"


def test_decode_refuses_an_unknown_protocol(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "masimo-ascii2", "--hex", "00"]) == 2
    assert f"implemented: {', '.join(protocol_names())}" in capsys.readouterr().err


def test_the_readme_names_every_protocol() -> None:
    readme = (ROOT / "README.md").read_text()
    assert [p for p in protocol_names() if f"`{p}`" not in readme] == []
