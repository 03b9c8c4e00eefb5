"""`edge-app`: parse the command line and dispatch; heavy imports happen inside each command."""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from edge_app.errors import EdgeAppError

_LOGGER = logging.getLogger("edge_app")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-app", description="Ambulance patient-record appliance.")
    p.add_argument("--debug", action="store_true", help="log at DEBUG and show tracebacks")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", metavar="PATH",
                        help="config file (default: $EDGE_APP_CONFIG, else /etc/edge-app/config.toml)")
        return sp

    sp = sub.add_parser("demo", help="the appliance with simulated monitors and the TUI, no config needed")
    sp.add_argument("--data-dir", metavar="DIR", help="keep the demo's data here instead of a throw-away dir")
    sp.add_argument("--headless", action="store_true", help="no TUI: print the live readings as lines")
    sp.add_argument("--seconds", type=float, default=None, help="with --headless: stop after this long")
    with_config(sub.add_parser("run", help="the daemon (what systemd runs)"))
    with_config(sub.add_parser("tui", help="the in-cab terminal UI (a client of the daemon)"))
    sp = with_config(sub.add_parser("status", help="daemon, devices and storage in a few lines"))
    sp.add_argument("--json", action="store_true", help="the full status document as JSON")

    sp = sub.add_parser("decode", help="decode captured monitor bytes; one JSON reading per line")
    sp.add_argument("protocol", metavar="PROTOCOL")
    src = sp.add_mutually_exclusive_group(required=True)
    src.add_argument("--hex", metavar="HEX", help="bytes as hex (spaces allowed)")
    src.add_argument("--text", metavar="TEXT", help="bytes as text (\\r and \\n escapes allowed)")
    src.add_argument("--file", metavar="PATH", help="a capture file ('-' for stdin)")

    sp = sub.add_parser("simulate", help="a simulated monitor writing real protocol bytes")
    sp.add_argument("protocol", metavar="PROTOCOL")
    dst = sp.add_mutually_exclusive_group(required=True)
    dst.add_argument("--port", metavar="PORT", help="a serial port (any pyserial URL) to write to")
    dst.add_argument("--pty", metavar="LINK", help="make a pseudo-terminal and link its reader end here")
    sp.add_argument("--rate", type=float, default=1.0, metavar="HZ", help="lines per second (default 1)")
    sp.add_argument("--seed", type=int, default=None, help="make the simulated patient repeatable")

    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    with_config(dbsub.add_parser("check", help="integrity_check, audit chain and counts (safe while running)"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except EdgeAppError as exc:
        if args.debug:
            _LOGGER.exception("failed")
        print(f"edge-app: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from edge_app import logs

    cmd = args.command
    if cmd == "decode":
        from edge_app.cli.decode import decode_command

        return decode_command(args.protocol, hex_=args.hex, text=args.text, file=args.file)
    if cmd == "simulate":
        logs.setup("debug" if args.debug else "warning", journald=False)
        from firmware_bridge.simulate import simulate_main

        return simulate_main(args.protocol, port=args.port, pty_link=args.pty, rate_hz=args.rate, seed=args.seed)
    if cmd == "demo":
        from edge_app.cli.demo import demo_command

        return demo_command(data_dir=args.data_dir, headless=args.headless, seconds=args.seconds, debug=args.debug)

    from edge_app import config as config_mod

    cfg = config_mod.load(args.config)
    if cmd == "run":
        logs.setup("debug" if args.debug else cfg.log_level)
        for w in cfg.warnings:
            _LOGGER.warning("%s", w)
        from edge_app.daemon.run import run

        return run(cfg)
    if cmd == "tui":
        from edge_app.tui.app import run_tui

        return run_tui(cfg.socket_path)
    if cmd == "status":
        from edge_app.cli.status import status_command

        return status_command(cfg, as_json=args.json)
    if cmd == "db":
        from edge_app.cli.db import db_check

        return db_check(cfg)
    raise AssertionError(cmd)
