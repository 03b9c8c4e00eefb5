"""`edge-app simulate gatt-heart-rate --bus`: a BLE strap on the private bus that real bleak reads."""
from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from firmware_bridge.codecs import codec_for
from firmware_bridge.driver import Driver
from firmware_bridge.transports.ble import BleTransport
from tests.e2e.harness import ROOT
from tests.firmware_bridge.waiting import wait_for


async def test_simulated_strap_is_read_through_bleak(private_system_bus: str) -> None:
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_app", "simulate", "gatt-heart-rate", "--bus", "--address", "C0:FF:EE:00:00:31",
        "--rate", "10", cwd=ROOT, env=dict(os.environ), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    rates: list[float] = []
    driver = Driver("strap", BleTransport("C0:FF:EE:00:00:31", "180d", ["2a37"]),
                    codec_for("gatt-heart-rate", framed=True),
                    on_readings=lambda rs, at: rates.extend(float(r.value) for r in rs if r.metric == "heart_rate"),
                    on_status=lambda st: None, codec_factory=lambda: codec_for("gatt-heart-rate", framed=True))
    task = asyncio.create_task(driver.run())
    try:
        await wait_for(lambda: len(rates) >= 3, timeout=20, what="three heart rates from the simulated strap")
        assert all(30 <= r <= 200 for r in rates), rates
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        sim.terminate()
        assert await asyncio.wait_for(sim.wait(), 10) == 0


async def test_simulated_glucose_meter_answers_the_record_request(private_system_bus: str) -> None:
    """A meter sends nothing unasked: the driver's "report last record" on connect gets its newest record."""
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_app", "simulate", "gatt-glucose", "--bus", "--address", "C0:FF:EE:00:00:32",
        "--rate", "10", "--seed", "3", cwd=ROOT, env=dict(os.environ), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    readings: list[Any] = []
    driver = Driver("meter", BleTransport("C0:FF:EE:00:00:32", "1808", ["2a18", "2a52"]),
                    codec_for("gatt-glucose", framed=True), on_readings=lambda rs, at: readings.extend(rs),
                    on_status=lambda st: None, codec_factory=lambda: codec_for("gatt-glucose", framed=True))
    task = asyncio.create_task(driver.run())
    try:
        await wait_for(lambda: readings, timeout=20, what="the meter's last record")
        (r,) = readings
        assert r.metric == "glucose" and 3.9 <= r.value <= 9.1, r
        assert "sample_capillary_whole_blood" in r.flags and "location_finger" in r.flags
        assert r.device_time is not None and abs(r.device_time / 1000 - time.time()) < 60
        await asyncio.sleep(1.0)
        assert len(readings) == 1, "one request, one record: nothing unasked"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        sim.terminate()
        assert await asyncio.wait_for(sim.wait(), 10) == 0


async def test_refuses_the_real_system_bus() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SYSTEM_BUS_ADDRESS"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_app", "simulate", "gatt-plx", "--bus", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and b"private bus" in err
