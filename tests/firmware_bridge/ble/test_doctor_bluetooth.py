"""doctor's Bluetooth rows against the fake BlueZ: reachable, adapter powered, each device seen; and gone."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.e2e.harness import ROOT
from tests.firmware_bridge.ble.fake_bluez import FakeBlueZ
from tests.firmware_bridge.ble.test_ble_transport import HR


async def doctor(cfg: Path) -> dict[str, dict]:
    # Run as a child so this loop keeps serving the fake bluetoothd while doctor asks it.
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "edge_app", "doctor", "--json", "--config",
                                                str(cfg), cwd=ROOT, env=dict(os.environ),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _err = await asyncio.wait_for(proc.communicate(), 60)
    return {c["check"]: c for c in json.loads(out)}


async def test_doctor_sees_bluez_the_adapter_and_the_strap(fake_bluez: FakeBlueZ, tmp_path: Path) -> None:
    strap = fake_bluez.add(HR, address="C0:FF:EE:00:00:21", name="HRM-FAKE")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[storage]\npath = "{tmp_path / "edge.db"}"\n[api]\nsocket = "{tmp_path / "api.sock"}"\n'
                   '[[devices]]\nname = "strap"\nprotocol = "gatt-heart-rate"\naddress = "C0:FF:EE:00:00:21"\n'
                   '[[devices]]\nname = "cuff"\nprotocol = "gatt-blood-pressure"\naddress = "C0:FF:EE:00:00:99"\n')
    fake_bluez.radio_on()
    await asyncio.sleep(0.2)
    rows = await doctor(cfg)
    assert rows["bluetooth"]["status"] == "ok" and "1 powered" in rows["bluetooth"]["detail"]
    assert "not seen by BlueZ" in rows["ble cuff"]["detail"] and rows["ble cuff"]["fix"]
    assert strap.address in rows["ble strap"]["detail"]
    fake_bluez.stop()  # bluetoothd goes away
    await asyncio.sleep(0.2)
    rows = await doctor(cfg)
    assert rows["bluetooth"]["status"] == "FAIL" and "systemctl start bluetooth" in rows["bluetooth"]["fix"]
