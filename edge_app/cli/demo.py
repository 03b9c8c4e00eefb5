"""`edge-app demo`: daemon + simulated monitor on a pseudo-terminal + the TUI, on a throw-away data dir."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from edge_app.cli.procs import die_with_parent, spawn_edge_app, stop, tail
from edge_app.client import async_client, stream_events, sync_client
from edge_app.errors import EdgeAppError
from edge_app.model.events import DeviceChanged, LiveReading

# A Masimo on the stretcher, a Nonin finger probe (two vendors' wire formats at once) and a BP cuff
# measuring once a minute (HL7 ORU, PCD-01): enough to follow Journey 1 with a real BP behind NEWS2.
DEMO_DEVICES = (("oximeter", "masimo-ascii", None), ("nonin", "nonin-df7", None), ("cuff", "hl7-oru", "cuff"))
START_TIMEOUT_S = 15.0


BLE_DEVICE = ("strap", "gatt-heart-rate", "C0:FF:EE:00:00:01")


def _config(root: Path, ble: bool) -> Path:
    lines = ["# written by `edge-app demo`", "[storage]", f'path = "{root / "edge.db"}"', "", "[api]",
             f'socket = "{root / "api.sock"}"', ""]
    for name, protocol, _profile in DEMO_DEVICES:
        lines += ["[[devices]]", f'name = "{name}"', f'protocol = "{protocol}"', f'port = "{root / ("tty-" + name)}"',
                  ""]
    if ble:
        name, protocol, address = BLE_DEVICE
        lines += ["[[devices]]", f'name = "{name}"', f'protocol = "{protocol}"', f'address = "{address}"', ""]
    path = root / "config.toml"
    path.write_text("\n".join(lines))
    return path


def _wait_ready(sock: Path, daemon_log: Path, procs: list) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise EdgeAppError(f"a demo process exited early (code {p.returncode}):\n{tail(daemon_log)}")
        if sock.exists():
            try:
                with sync_client(sock, timeout=1) as c:
                    if c.get("/healthz").status_code == 200:
                        return
            except Exception:
                pass
        time.sleep(0.05)
    raise EdgeAppError(f"the daemon did not start within {START_TIMEOUT_S:.0f} s:\n{tail(daemon_log)}")


async def _headless(sock: Path, seconds: float | None) -> None:
    async def follow() -> None:
        async with async_client(sock) as client:
            async for event, _ in stream_events(client):
                match event:
                    case LiveReading():
                        print(msgspec.json.encode(event).decode(), flush=True)
                    case DeviceChanged(name=name, state=state, detail=detail):
                        print(f"# device {name}: {state} {detail}".rstrip(), flush=True)

    if seconds is None:
        await follow()
    else:
        try:
            await asyncio.wait_for(follow(), seconds)
        except asyncio.TimeoutError:
            pass


def demo_command(*, data_dir: str | None, headless: bool, seconds: float | None, debug: bool) -> int:
    """Run the demo until the user quits; leave no process (and, unless --data-dir, no file) behind."""
    throwaway = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="edge-app-demo-")) if throwaway else Path(data_dir).resolve()  # type: ignore[arg-type]
    root.mkdir(parents=True, exist_ok=True)
    procs: list = []
    env = dict(os.environ)
    dbus = shutil.which("dbus-daemon")
    # The bus socket wants a short path (Unix sockets: 107 bytes), so it may live outside the data dir.
    bus_dir = Path(tempfile.mkdtemp(prefix="edge-bus-", dir=root if len(str(root)) < 60 else "/tmp"))
    ble = False
    if dbus:
        # A Bluetooth strap too: a fake bluetoothd on a private bus that the daemon's bleak talks to.
        # lazy: the BLE stand-in only where dbus-daemon exists
        from firmware_bridge.simulate.bluez import start_private_bus

        bus_proc, address = start_private_bus(bus_dir, dbus, preexec_fn=die_with_parent)
        procs.append(bus_proc)
        if address:
            env["DBUS_SYSTEM_BUS_ADDRESS"] = address
            ble = True
    if not ble:
        print("edge-app demo: no private D-Bus (is dbus-daemon installed?), so no simulated Bluetooth strap",
              file=sys.stderr)
    cfg = _config(root, ble=ble)
    daemon_log = root / "daemon.log"
    app = None

    def on_signal(signum: int, frame: object) -> None:
        # Closing the terminal (SIGHUP) or a `kill` (SIGTERM) must clean up like q does.
        if app is not None and app.is_running:
            app.exit()
        else:
            raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        with open(root / "simulators.log", "ab") as sim_log:
            for i, (name, protocol, profile) in enumerate(DEMO_DEVICES):
                procs.append(spawn_edge_app(["simulate", protocol, "--pty", str(root / f"tty-{name}"),
                                             "--seed", str(i + 1), *(["--profile", profile] if profile else [])],
                                            log=sim_log))
            if ble:
                procs.append(spawn_edge_app(["simulate", BLE_DEVICE[1], "--bus", "--address", BLE_DEVICE[2]],
                                            log=sim_log, env=env))
        with open(daemon_log, "ab") as log:
            procs.append(spawn_edge_app([*(["--debug"] if debug else []), "run", "--config", str(cfg)], log=log,
                                        env=env))
        _wait_ready(root / "api.sock", daemon_log, procs)
        if headless:
            print(f"# demo running in {root}; Ctrl+C to stop", flush=True)
            asyncio.run(_headless(root / "api.sock", seconds))
        else:
            # lazy: Textual only for the screen (not with --headless)
            from edge_app.tui.app import VitalsApp

            app = VitalsApp(root / "api.sock", demo_note=f"demo data in {root} (deleted on exit)" if throwaway
                            else f"demo data in {root}")
            app.run()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # `edge-app demo --headless | head`: the reader left; stop quietly.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (never flushed to the closed pipe again)
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(bus_dir, ignore_errors=True)
        if throwaway:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"demo data kept in {root} (config: {cfg})", file=sys.stderr)
    return 0
