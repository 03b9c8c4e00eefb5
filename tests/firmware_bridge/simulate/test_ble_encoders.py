"""The simulated BLE devices' values (`edge-app simulate gatt-… --bus`) decode with their own codecs, no bus."""
from __future__ import annotations

import pytest

from firmware_bridge.codecs import codec_for
from firmware_bridge.codecs.gatt_base import frame
from firmware_bridge.simulate.ble import ble_simulated_protocols, ble_simulator_for
from firmware_bridge.simulate.patient import PatientModel


@pytest.mark.parametrize("protocol", ble_simulated_protocols())
def test_every_value_a_simulator_sends_decodes(protocol: str) -> None:
    sim = ble_simulator_for(protocol)
    char, encode = sim.value_char, sim.encode
    patient = PatientModel(5)
    codec = codec_for(protocol, framed=True)
    for tick in range(60):  # every encoder's period (a cuff every 30 ticks, a thermometer every 10) twice
        value = encode(patient.step(), tick)
        if value is not None:
            assert codec.feed(frame(char, value)), (tick, value.hex())


def test_thermometer_sends_a_body_temperature() -> None:
    """It sent a float mantissa, which encode_float cannot hold: the simulator died at its first tick."""
    sim = ble_simulator_for("gatt-temperature")
    char, encode = sim.value_char, sim.encode
    patient = PatientModel(5)
    codec = codec_for("gatt-temperature", framed=True)
    temps = []
    for tick in range(0, 100, 10):
        value = encode(patient.step(), tick)
        assert value is not None
        temps += [float(r.value) for r in codec.feed(frame(char, value)) if r.metric == "temperature"]
    assert len(temps) == 10 and all(36.5 <= t <= 37.4 for t in temps), temps
