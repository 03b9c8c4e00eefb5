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
    sp.add_argument("--uuid", metavar="UUID", help="gatt-* only: the characteristic the value came from "
                                                 "(e.g. gatt-plx: 2a5e spot-check, 2a5f continuous)")

    sp = sub.add_parser("simulate", help="a simulated monitor writing real protocol bytes")
    sp.add_argument("protocol", metavar="PROTOCOL")
    dst = sp.add_mutually_exclusive_group(required=True)
    dst.add_argument("--port", metavar="PORT", help="a serial port (any pyserial URL) to write to")
    dst.add_argument("--pty", metavar="LINK", help="make a pseudo-terminal and link its reader end here")
    dst.add_argument("--listen", metavar="HOST:PORT", help="hl7-oru over TCP: listen for the bridge")
    dst.add_argument("--connect", metavar="HOST:PORT", help="hl7-oru over TCP: connect to the bridge")
    dst.add_argument("--bus", action="store_true",
                     help="gatt-*: a BLE device on the private D-Bus in $DBUS_SYSTEM_BUS_ADDRESS")
    sp.add_argument("--address", metavar="AA:BB:CC:DD:EE:FF", help="with --bus: the simulated device's address")
    sp.add_argument("--rate", type=float, default=1.0, metavar="HZ", help="lines per second (default 1)")
    sp.add_argument("--seed", type=int, default=None, help="make the simulated patient repeatable")
    sp.add_argument("--profile", metavar="NAME", default=None,
                    help="another device speaking the protocol (hl7-oru: cuff, a BP cuff measuring once a minute)")

    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    with_config(dbsub.add_parser("check", help="integrity_check, audit chain and counts (safe while running)"))
    sp = with_config(dbsub.add_parser("backup", help="a verified copy of the database (safe while running)"))
    sp.add_argument("dest", metavar="DEST", help="a file, or a directory (ends in /) for a timestamped file")
    sp.add_argument("--keep", type=int, metavar="N", help="with a directory: keep only the newest N backups")
    sp = with_config(dbsub.add_parser("restore", help="replace the database with a backup (daemon stopped)"))
    sp.add_argument("src", metavar="SRC", help="a backup file made by `edge-app db backup`")
    sp = with_config(sub.add_parser("export", help="a handover document of one encounter, from the daemon"))
    sp.add_argument("encounter", metavar="ENCOUNTER", nargs="?",
                    help="the encounter id (see `edge-app status` or the API)")
    sp.add_argument("--format", choices=("fhir", "atmist", "summary"), default="atmist",
                    help="fhir: an R4 Bundle; atmist: the spoken handover; summary: the written one")
    sp.add_argument("--pending", action="store_true",
                    help="instead: every record waiting to go upstream, as a signed bundle in --out DIR")
    sp.add_argument("--out", metavar="FILE", help="write here instead of stdout (with --pending: a new directory)")
    sp = sub.add_parser("verify-bundle", help="check a bundle made by `export --pending`: signature and hashes")
    sp.add_argument("dir", metavar="DIR")
    sp.add_argument("--key", metavar="PUB", help="the vehicle's public key you trust (default: the bundle's own)")
    sp = with_config(sub.add_parser("pair", help="a one-time pairing code for a tablet (valid 5 minutes)"))
    sp.add_argument("--scope", choices=("crew", "technician", "uplink"), default="crew",
                    help="what the paired token may do (default: crew)")
    tok = sub.add_parser("tokens", help="paired tablets and other API tokens")
    toksub = tok.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    with_config(toksub.add_parser("list", help="every token: name, scope, state, expiry"))
    sp = with_config(toksub.add_parser("revoke", help="cut a token off at once (a lost or stolen tablet)"))
    sp.add_argument("name", metavar="NAME")
    audit = sub.add_parser("audit", help="the audit log of patient-data access")
    auditsub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    with_config(auditsub.add_parser("verify", help="check the hash chain: any row changed, removed or reordered"))
    up = sub.add_parser("upstream", help="the forwarding gate: status, suspend, resume; dead letters; approvals")
    upsub = up.add_subparsers(dest="upstream_command", required=True, metavar="ACTION")
    sp = with_config(upsub.add_parser("status", help="may records leave now, what waits, the last error"))
    sp.add_argument("--json", action="store_true", help="the status document as JSON")
    sp = with_config(upsub.add_parser("suspend", help="stop forwarding now (persisted, audited)"))
    why = sp.add_mutually_exclusive_group(required=True)
    why.add_argument("--reason", help="why, for the log and the next technician")
    why.add_argument("--order", metavar="FILE", help="the fleet's signed suspend order (upstream sign-suspend)")
    sp = with_config(upsub.add_parser("resume", help="forward again (with require_approval: --approval FILE)"))
    sp.add_argument("--approval", metavar="FILE", help="an approval signed by the authority (upstream approve)")
    sp.add_argument("--reason", help="why, for the log")
    with_config(upsub.add_parser("dead-letters", help="records the target refused, with its reason"))
    sp = with_config(upsub.add_parser("requeue", help="send a refused record again"))
    sp.add_argument("key", metavar="KEY", help="the key shown by `upstream dead-letters`")
    sp = upsub.add_parser("keygen", help="(authority) make an Ed25519 key pair: STEM.key and STEM.pub")
    sp.add_argument("stem", metavar="STEM", help="e.g. /secure/authority")
    sp = upsub.add_parser("approve", help="(authority) sign a reconnection approval for one vehicle")
    sp.add_argument("--key", required=True, metavar="FILE", help="the authority's private key (STEM.key)")
    sp.add_argument("--vehicle", required=True, help="the vehicle's appliance.vehicle_id")
    sp.add_argument("--hours", type=float, default=24.0, help="valid for this long (default 24)")
    sp.add_argument("--start", metavar="TIME", help="valid from (ISO 8601; default now)")
    sp.add_argument("--issued-by", default="", help="who approves, shown on the box")
    sp.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    sp = upsub.add_parser("sign-suspend", help="(authority) sign an order that suspends forwarding on vehicles")
    sp.add_argument("--key", required=True, metavar="FILE", help="the authority's private key (STEM.key)")
    who = sp.add_mutually_exclusive_group(required=True)
    who.add_argument("--vehicle", action="append", help="a vehicle's appliance.vehicle_id (repeat for more)")
    who.add_argument("--fleet", action="store_true", help="every vehicle that trusts this key")
    sp.add_argument("--reason", required=True, help="shown on every box it reaches, e.g. \"incident 2026-11-22\"")
    sp.add_argument("--issued-by", default="", help="who orders it, shown on the box")
    sp.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    sp = with_config(sub.add_parser("uplink", help="the upstream forwarder (what edge-app-uplink.service runs)"))
    sp.add_argument("--once", action="store_true", help="send what is waiting, then exit (0: all sent)")
    sp.add_argument("--from-bundle", metavar="DIR", help="send a verified offline bundle instead (no daemon needed)")
    sp.add_argument("--key", metavar="PUB", help="with --from-bundle: the vehicle's public key you trust")
    sp = with_config(sub.add_parser("doctor", help="check the box: config, storage, daemon, monitors, clock"))
    sp.add_argument("--json", action="store_true", help="the checks as a JSON list")
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
    # lazy imports throughout: each command loads only what it runs (the start-up time of every command)
    from edge_app import logs

    cmd = args.command
    if cmd == "decode":
        from edge_app.cli.decode import decode_command

        return decode_command(args.protocol, hex_=args.hex, text=args.text, file=args.file, uuid=args.uuid)
    if cmd == "simulate":
        logs.setup("debug" if args.debug else "warning", journald=False)
        if args.bus:
            from firmware_bridge.simulate.ble import simulate_ble_main

            return simulate_ble_main(args.protocol, address=args.address, rate_hz=args.rate, seed=args.seed)
        from firmware_bridge.simulate import simulate_main

        return simulate_main(args.protocol, port=args.port, pty_link=args.pty, rate_hz=args.rate,
                             seed=args.seed, listen=args.listen, connect=args.connect, profile=args.profile)
    if cmd == "demo":
        from edge_app.cli.demo import demo_command

        return demo_command(data_dir=args.data_dir, headless=args.headless, seconds=args.seconds, debug=args.debug)

    if cmd == "verify-bundle":
        from edge_app.cli.offline import verify_command

        return verify_command(args.dir, args.key)
    if cmd == "doctor":
        # Before the config is loaded: a broken config is one of doctor's rows, not exit 2.
        from edge_app.cli.doctor import doctor_command

        return doctor_command(args.config, as_json=args.json)
    if cmd == "upstream" and args.upstream_command in ("keygen", "approve", "sign-suspend"):
        from edge_app.cli import upstream as up_cli

        if args.upstream_command == "keygen":
            return up_cli.keygen_command(args.stem)
        if args.upstream_command == "sign-suspend":
            return up_cli.sign_suspend_command(args.key, None if args.fleet else args.vehicle, args.reason,
                                               args.issued_by, args.out)
        return up_cli.approve_command(args.key, args.vehicle, args.hours, args.issued_by, args.out, args.start)
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
    if cmd == "export":
        if args.pending:
            if not args.out or args.encounter:
                raise EdgeAppError("export --pending takes no ENCOUNTER and needs --out DIR")
            from edge_app.cli.offline import export_pending

            return export_pending(cfg, args.out)
        if not args.encounter:
            raise EdgeAppError("export: give an ENCOUNTER id, or --pending --out DIR")
        from edge_app.cli.export import export_command

        return export_command(cfg, args.encounter, args.format, args.out)
    if cmd == "pair":
        from edge_app.cli.pairing import pair_command

        return pair_command(cfg, args.scope)
    if cmd == "tokens":
        from edge_app.cli.pairing import tokens_command

        return tokens_command(cfg, args.tokens_command, getattr(args, "name", None))
    if cmd == "upstream":
        from edge_app.cli.upstream import upstream_command

        return upstream_command(cfg, args.upstream_command, reason=getattr(args, "reason", None),
                                approval=getattr(args, "approval", None), key=getattr(args, "key", None),
                                order=getattr(args, "order", None),
                                as_json=getattr(args, "json", False))
    if cmd == "uplink" and args.from_bundle:
        from edge_app.cli.offline import load_bundle

        return load_bundle(cfg, args.from_bundle, args.key)
    if cmd == "uplink":
        logs.setup("debug" if args.debug else cfg.log_level)
        from edge_app.uplink.run import uplink_main

        return uplink_main(cfg, once=args.once)
    if cmd == "audit":
        from edge_app.cli.audit import audit_verify

        return audit_verify(cfg)
    if cmd == "db":
        from edge_app.cli import db as db_cli

        if args.db_command == "backup":
            return db_cli.db_backup(cfg, args.dest, keep=args.keep)
        if args.db_command == "restore":
            return db_cli.db_restore(cfg, args.src)
        return db_cli.db_check(cfg)
    raise AssertionError(cmd)
