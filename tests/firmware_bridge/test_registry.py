"""The protocol registry is the one list: every ProtocolName has a spec, every spec is consistent, and the
bridge's consumers (codec_for, simulate) know exactly its protocols. Walks the registry, lists nothing."""
from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from firmware_bridge.codecs import codec_class, codec_for, implemented_protocols
from firmware_bridge.codecs.gatt_base import GattCodec, frame
from firmware_bridge.errors import UnknownProtocolError
from firmware_bridge.protocols import (
    SPECS,
    DeviceOption,
    ProtocolName,
    ProtocolSpec,
    TransportKind,
    find_spec,
    protocol_names,
    resolve,
    spec_for,
)
from firmware_bridge.simulate.ble import ble_simulated_protocols, ble_simulator_for, simulate_ble_main
from firmware_bridge.simulate.patient import PatientModel
from firmware_bridge.simulate.runner import simulate_main, simulated_protocols, simulator_for

IDS = [str(s.name) for s in SPECS]


def test_every_protocol_name_has_exactly_one_spec() -> None:
    assert sorted(str(s.name) for s in SPECS) == sorted(str(p) for p in ProtocolName)
    assert len({s.name for s in SPECS}) == len(SPECS)
    assert protocol_names() == implemented_protocols() == sorted(str(p) for p in ProtocolName)


def test_unknown_names_are_refused_with_the_known_list() -> None:
    assert find_spec("masimo-ascii2") is None
    for lookup in (spec_for, codec_for):
        with pytest.raises(UnknownProtocolError) as err:
            lookup("masimo-ascii2")
        assert all(name in str(err.value) for name in protocol_names())


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_spec_is_consistent_with_its_transport(spec: ProtocolSpec) -> None:
    ble = spec.transport is TransportKind.BLE
    assert (spec.ble is not None) == ble
    assert spec.takes(DeviceOption.ADDRESS) == ble
    assert spec.takes(DeviceOption.PORT) == spec.takes(DeviceOption.BAUDRATE) == (not ble)
    assert spec.takes(DeviceOption.LISTEN) == (spec.transport is TransportKind.SERIAL_OR_TCP)
    assert len({o.key for o in spec.options}) == len(spec.options)
    assert spec.no_frames_hint.startswith("set the ")
    assert (spec.ble_simulator is None) or ble, "a BLE simulator for a wired protocol"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_codec_is_resolved_and_takes_the_options_config_derives(spec: ProtocolSpec) -> None:
    cls = codec_class(spec.name)
    assert cls.protocol is spec.name
    config = {str(o.key): True for o in spec.options}  # every flag on: the codec must accept them all
    options = spec.codec_options(config, lambda: 1_700_000_000_000)
    assert isinstance(codec_for(spec.name, **options), cls)
    assert ("framed" in options) == (spec.transport is TransportKind.BLE)
    if spec.takes(DeviceOption.SET_CLOCK):
        assert options["set_clock_ms"] == 1_700_000_000_000
    assert spec.codec_options({}, lambda: 0) == ({"framed": True} if spec.ble else {})


@pytest.mark.parametrize("spec", [s for s in SPECS if s.ble], ids=[str(s.name) for s in SPECS if s.ble])
def test_ble_profile_covers_what_the_codec_decodes(spec: ProtocolSpec) -> None:
    assert spec.ble is not None
    cls = codec_class(spec.name)
    assert issubclass(cls, GattCodec)
    assert set(cls.characteristics) <= set(spec.ble.characteristics)
    assert 0x1800 <= spec.ble.service <= 0x18FF, "a Bluetooth SIG service"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_simulate_covers_exactly_the_protocols_with_a_simulator(spec: ProtocolSpec,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    name = str(spec.name)
    if spec.frame_source:
        source = simulator_for(name, 1)
        codec = codec_for(name)
        when = datetime(2026, 1, 1, tzinfo=UTC)
        assert codec.feed(b"".join(source.next_frame(when) for _ in range(5))), "its frames decode"
    else:
        with pytest.raises(ValueError, match=f"cannot simulate '{name}'"):
            simulator_for(name)
        assert simulate_main(name, port=None, pty_link="/nonexistent/x", rate_hz=1.0, seed=None) == 2
        err = capsys.readouterr().err
        assert f"cannot simulate '{name}'" in err and err.count("\n") == 1
        if spec.ble_simulator:
            assert "--bus" in err
    if spec.ble_simulator:
        assert spec.ble is not None
        sim = ble_simulator_for(name)
        chars = {c for c, _flags, _value in sim.profile[spec.ble.service]}
        assert set(spec.ble.characteristics) <= chars and sim.value_char in spec.ble.characteristics
        codec, patient = codec_for(name, framed=True), PatientModel(2)
        values = [v for t in range(31) if (v := sim.encode(patient.step(), t)) is not None]
        assert all(codec.feed(frame(sim.value_char, v)) for v in values)
    else:
        with pytest.raises(ValueError, match=f"cannot simulate '{name}' over BLE"):
            ble_simulator_for(name)
        assert simulate_ble_main(name, address=None, rate_hz=1.0, seed=None) == 2
        assert f"cannot simulate '{name}' over BLE" in capsys.readouterr().err


def test_simulated_lists_are_the_specs() -> None:
    assert simulated_protocols() == sorted(str(s.name) for s in SPECS if s.frame_source)
    assert ble_simulated_protocols() == [str(s.name) for s in SPECS if s.ble_simulator]
    with pytest.raises(ValueError, match="cannot simulate 'bogus'"):
        simulator_for("bogus")
    with pytest.raises(ValueError, match="module:attribute"):
        resolve("firmware_bridge.codecs.masimo_ascii.MasimoAsciiCodec")


def test_importing_the_registry_loads_no_codec_simulator_or_radio() -> None:
    """The daemon imports it on the way to READY: codecs and simulators load only when first used."""
    code = ("import sys, firmware_bridge.protocols; "
            "print(sorted(m for m in sys.modules if m.startswith(('firmware_bridge.', 'bleak', 'dbus_fast', "
            "'serial'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['firmware_bridge.errors', 'firmware_bridge.protocols']"
