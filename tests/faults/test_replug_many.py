"""Fault injection: a monitor unplugged and replugged 100 times is read again every time, no restart."""
from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from firmware_bridge.codecs import codec_for
from firmware_bridge.driver import DeviceState, Driver
from firmware_bridge.simulate.masimo import MasimoSimulator
from firmware_bridge.simulate.ports import VirtualSerialPort
from firmware_bridge.transports.serial import SerialTransport

REPLUGS = 100


async def test_hundred_replugs(tmp_path: Path) -> None:
    link = tmp_path / "ttyOX"
    port = VirtualSerialPort(link)
    readings: list[int] = []
    states: list[str] = []
    driver = Driver("ox", SerialTransport(str(link)), codec_for("masimo-ascii"),
                    on_readings=lambda rs, at: readings.append(len(rs)),
                    on_status=lambda st: states.append(str(st.state)))
    task = asyncio.create_task(driver.run())
    sim = MasimoSimulator(7)
    worst = 0.0
    try:
        for _ in range(REPLUGS):
            before = len(readings)
            t0 = time.monotonic()
            while len(readings) == before:  # write until the driver (re)connects and decodes
                port.write(sim.next_frame(datetime.now(UTC)))
                await asyncio.sleep(0.02)
                assert time.monotonic() - t0 < 3, "not read again within 3 s of replug"
            worst = max(worst, time.monotonic() - t0)
            port.unplug()
            while driver.status.state == DeviceState.CONNECTED:
                await asyncio.sleep(0.005)
            port.plug()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        port.close()
    assert driver.status.counters["opens"] >= REPLUGS
    print(f"\n{REPLUGS} replugs; slowest to the next reading: {worst:.2f} s")
