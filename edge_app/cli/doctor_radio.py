"""doctor's rows for the tablet listener's TLS certificate and for Bluetooth (BlueZ over D-Bus)."""
from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

from firmware_bridge.protocols import TransportKind, spec_for

from edge_app.cli.checks import FAIL, OK, WARN, Check
from edge_app.config import Config, is_loopback
from edge_app.model.devices import Device

BLUEZ_FIX = "systemctl start bluetooth; rfkill unblock bluetooth; bluetoothctl power on"


def tls_check(cfg: Config, daemon_up: bool) -> Check | None:
    """The tablet certificate: present, not expired, renewed in time (the daemon renews 30 days ahead)."""
    if cfg.listen is None or is_loopback(cfg.listen[0]):
        return None
    # lazy: cryptography's x509 only with a tablet listener
    from edge_app.daemon.tls import RENEW_DAYS, _info

    cert, key = cfg.db_path.parent / "tls" / "tablet.crt", cfg.db_path.parent / "tls" / "tablet.key"
    if not cert.exists():
        if daemon_up:
            return Check("tls certificate", FAIL, f"{cert} missing while the daemon runs",
                         "systemctl restart edge-app (it makes one on start); journalctl -u edge-app -b")
        return Check("tls certificate", WARN, f"{cert} not made yet", "start the daemon: it makes one on first start")
    try:
        info = _info(cert, key)
    except (ValueError, OSError) as exc:
        return Check("tls certificate", FAIL, f"{cert}: unreadable ({exc})",
                     "remove it and restart edge-app; tablets must then be paired again")
    left = info.not_after - dt.datetime.now(dt.UTC)
    detail = f"expires {info.not_after.date()}, SHA-256 {info.fingerprint[:23]}…"
    if left.total_seconds() <= 0:
        return Check("tls certificate", FAIL, f"expired {info.not_after.date()}",
                     "restart edge-app: it makes a new one; tablets then see a new fingerprint and re-pair")
    if left < dt.timedelta(days=RENEW_DAYS - 1):
        return Check("tls certificate", WARN, detail + " (should have been renewed)",
                     "journalctl -u edge-app | grep -i certificate; restart edge-app to renew")
    return Check("tls certificate", OK, detail)


async def _bluez_objects() -> dict[str, Any]:
    # lazy: dbus_fast only with Bluetooth devices configured
    from dbus_fast import BusType, Message, MessageType
    from dbus_fast.aio import MessageBus

    bus = await asyncio.wait_for(MessageBus(bus_type=BusType.SYSTEM).connect(), 3)
    try:
        reply = await asyncio.wait_for(bus.call(Message(
            destination="org.bluez", path="/", interface="org.freedesktop.DBus.ObjectManager",
            member="GetManagedObjects")), 3)
    finally:
        bus.disconnect()
    if reply is None or reply.message_type == MessageType.ERROR:
        raise RuntimeError(reply.body[0] if reply and reply.body else "no answer from org.bluez")
    return dict(reply.body[0])


def bluetooth_checks(cfg: Config, live: Mapping[str, Device]) -> list[Check]:
    """BlueZ reachable, an adapter powered, and each configured BLE device seen by it."""
    ble = [d for d in cfg.devices if spec_for(d.protocol).transport is TransportKind.BLE]
    if not ble:
        return []
    try:
        objects = asyncio.run(_bluez_objects())
    except Exception as exc:  # any D-Bus failure means the same thing to a technician
        return [Check("bluetooth", FAIL, f"BlueZ not reachable on the system bus: {exc}", BLUEZ_FIX)]
    adapters = {p: i["org.bluez.Adapter1"] for p, i in objects.items() if "org.bluez.Adapter1" in i}
    if not adapters:
        return [Check("bluetooth", FAIL, "BlueZ runs but sees no Bluetooth adapter",
                      "check the adapter is fitted (lsusb / dmesg); rfkill list")]
    powered = [p for p, a in adapters.items() if _v(a.get("Powered"))]
    rows = [Check("bluetooth", OK if powered else FAIL,
                  f"{len(adapters)} adapter(s), {len(powered)} powered",
                  "" if powered else "bluetoothctl power on; rfkill unblock bluetooth")]
    known = {str(_v(i["org.bluez.Device1"].get("Address"))).upper(): _v(i["org.bluez.Device1"].get("Connected"))
             for i in objects.values() if "org.bluez.Device1" in i}
    for d in ble:
        got = live.get(d.name)
        state = got.state if got else "daemon not running"
        if d.address is None:
            rows.append(Check(f"ble {d.name}", OK if state == "connected" else WARN,
                              f"any device advertising {d.protocol}; {state}",
                              "" if state == "connected" else "wake the device (most sleep until used)"))
        elif d.address.upper() not in known:
            rows.append(Check(f"ble {d.name}", WARN, f"{d.address} not seen by BlueZ; {state}",
                              "switch the device on and bring it within a few metres"))
        else:
            up = bool(known[d.address.upper()])
            rows.append(Check(f"ble {d.name}", OK if up else WARN,
                              f"{d.address} {'connected' if up else 'seen, not connected'}; {state}",
                              "" if up else "the daemon retries by itself; if it stays, power-cycle the device"))
    return rows


def _v(value: Any) -> Any:
    return getattr(value, "value", value)
