"""The daemon, configured with a BLE heart-rate strap, pulse oximeter and blood pressure cuff, stores their
readings through real bleak (against the fake BlueZ) and picks the strap up again after it walks away."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from firmware_bridge.codecs.ieee11073 import encode_sfloat
from tests.e2e.harness import ROOT
from tests.firmware_bridge.ble.fake_bluez import FakeBlueZ
from tests.firmware_bridge.ble.test_ble_transport import BP, HR, PLX


async def until(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll without blocking the loop: the fake bluetoothd lives on this loop."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            value = await pred() if asyncio.iscoroutinefunction(pred) else pred()
        except (httpx.HTTPError, OSError):
            value = None
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_daemon_reads_three_ble_devices_and_recovers_a_walk_away(fake_bluez: FakeBlueZ, tmp_path: Path) -> None:
    strap = fake_bluez.add(HR, address="C0:FF:EE:00:00:11", name="HRM-FAKE")
    ox = fake_bluez.add(PLX, address="C0:FF:EE:00:00:12", name="PLX-FAKE")
    cuff = fake_bluez.add(BP, address="C0:FF:EE:00:00:13", name="BP-FAKE")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[storage]\npath = "{tmp_path / "edge.db"}"\n[api]\nsocket = "{tmp_path / "api.sock"}"\n'
                   '[[devices]]\nname = "strap"\nprotocol = "gatt-heart-rate"\naddress = "C0:FF:EE:00:00:11"\n'
                   '[[devices]]\nname = "ox"\nprotocol = "gatt-plx"\naddress = "C0:FF:EE:00:00:12"\n'
                   '[[devices]]\nname = "cuff"\nprotocol = "gatt-blood-pressure"\naddress = "C0:FF:EE:00:00:13"\n')
    log = open(tmp_path / "daemon.log", "wb")
    daemon = subprocess.Popen([sys.executable, "-m", "edge_app", "run", "--config", str(cfg)], cwd=ROOT,
                              stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=dict(os.environ))
    client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(tmp_path / "api.sock")),
                               base_url="http://x", timeout=5)

    async def devices() -> dict[str, dict]:
        return {d["name"]: d for d in (await client.get("/api/v1/devices")).json()}

    async def metrics(name: str) -> list[tuple[str, Any]]:
        rows = (await client.get("/api/v1/observations", params={"device": name})).json()
        return [(o["metric"], o["value"]) for o in rows]

    try:
        async def all_connected() -> bool:
            return all(d["state"] == "connected" for d in (await devices()).values())

        await until(all_connected, 30, "all three BLE devices connected")
        await until(lambda: strap.subscribed(0x2A37) and ox.subscribed(0x2A5F) and cuff.subscribed(0x2A35), 10,
                    "subscriptions")
        strap.send(0x2A37, b"\x00\x48")
        ox.send(0x2A5F, b"\x00" + encode_sfloat(97) + encode_sfloat(61))
        cuff.send(0x2A35, bytes.fromhex("1e8a00580078000000041114293b3c00012700"))  # indication

        async def stored() -> bool:
            return (("heart_rate", 72) in await metrics("strap") and ("spo2", 97) in await metrics("ox")
                    and ("bp_systolic", 138) in await metrics("cuff"))

        await until(stored, 15, "readings from all three stored")
        assert (await devices())["strap"]["info"]["manufacturer"] == "Acme Medical"

        strap.walk_away()

        async def strap_lost() -> bool:
            return (await devices())["strap"]["state"] != "connected"

        await until(strap_lost, 15, "the daemon to notice the strap walked away")
        strap.come_back()

        async def strap_back() -> bool:
            return (await devices())["strap"]["state"] == "connected" and strap.subscribed(0x2A37)

        await until(strap_back, 30, "the strap picked up again")
        strap.send(0x2A37, b"\x00\x50")

        async def second() -> bool:
            return ("heart_rate", 80) in await metrics("strap")

        await until(second, 15, "a reading after the strap came back")
        assert [v for m, v in await metrics("strap") if m == "heart_rate"] == [72, 80], "no doubled readings"
    finally:
        await client.aclose()
        daemon.send_signal(signal.SIGTERM)
        try:
            await asyncio.get_running_loop().run_in_executor(None, daemon.wait, 10)
        finally:
            log.close()
    assert daemon.returncode == 0, (tmp_path / "daemon.log").read_text()
