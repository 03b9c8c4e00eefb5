"""`edge-app doctor`: check the box end to end; every WARN and FAIL says how to fix it."""
from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path

from firmware_bridge.protocols import spec_for

import httpx
import msgspec

from edge_app import config as config_mod
from edge_app.cli.checks import FAIL, OK, WARN, Check
from edge_app.cli.doctor_radio import bluetooth_checks, tls_check
from edge_app.cli.skips import skipped_summary
from edge_app.client import call_as, sync_client
from edge_app.config import Config, DeviceConfig, is_loopback
from edge_app.errors import ApiClientError, ConfigError, EdgeAppError
from edge_app.model.devices import Device
from edge_app.model.system import Status
from edge_app.model.upstream import UpstreamStatus
from edge_app.store.connection import open_db
from edge_app.upstream.approval import ApprovalError, key_fingerprint, load_public_key

MB = 1_000_000
FAIL_FREE_BYTES = 100 * MB
FAIL_FREE_FRACTION = 0.02
WARN_FREE_BYTES = 1000 * MB
QUICK_CHECK_ABOVE = 256 * MB  # integrity_check reads every index too; on a big DB quick_check is enough here
STALE_FRAME_S = 30.0
MANY_BAD = 3  # one bad frame is normal: connecting mid-line cuts the first one
MIN_YEAR = 2024
CLOCK_BEHIND_S = 300.0
LOGS = "journalctl -u edge-app -b -p warning"


def space_status(free: int, total: int) -> tuple[str, str]:
    """Status and detail for free bytes on the data filesystem (pure: tested with numbers)."""
    pct = 100.0 * free / total if total else 0.0
    detail = f"{_size(free)} free of {_size(total)} ({pct:.0f}%)"
    if free < FAIL_FREE_BYTES or free < FAIL_FREE_FRACTION * total:
        return FAIL, detail
    if free < WARN_FREE_BYTES:
        return WARN, detail
    return OK, detail


def clock_status(now_s: float, newest_ms: int | None) -> tuple[str, str]:
    """Status and detail of the system clock against the newest stored reading (pure)."""
    year = time.gmtime(now_s).tm_year
    detail = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now_s))
    if year < MIN_YEAR:
        return FAIL, f"{detail}: the clock is not set"
    if newest_ms is not None and newest_ms / 1000 - now_s > CLOCK_BEHIND_S:
        return FAIL, f"{detail}: {(newest_ms / 1000 - now_s) / 60:.0f} min behind the newest stored reading"
    return OK, detail


def doctor_command(config_arg: str | None, *, as_json: bool) -> int:
    """Print the report; exit 1 if any check FAILs."""
    checks = run_checks(config_arg)
    if as_json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        print(render(checks))
    return 1 if any(c.status == FAIL for c in checks) else 0


def render(checks: list[Check]) -> str:
    """A plain-text table: check, status, detail, fix."""
    rows = [("CHECK", "STATUS", "DETAIL", "FIX")] + [(c.check, c.status, c.detail, c.fix) for c in checks]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    w0, w1, w2 = widths
    return "\n".join(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]:<{w2}}  {r[3]}".rstrip() for r in rows)


def run_checks(config_arg: str | None) -> list[Check]:
    """Every check, in the order a technician works through them."""
    try:
        cfg = config_mod.load(config_arg)
    except ConfigError as exc:
        where = config_mod.locate(config_arg)[0]
        # Nothing else can be located without the config; the clock needs nothing.
        fix = f"fix the named key in {where}, then run `edge-app doctor` again"
        return [Check("config", FAIL, str(exc), fix), _clock(None)]
    checks = [_config(cfg)]
    checks += _data_dir(cfg.db_path.parent)
    db_row, newest_ms = _database(cfg.db_path)
    checks.append(db_row)
    status, daemon_rows = _daemon(cfg)
    checks += daemon_rows
    live = {d.name: d for d in status.devices} if status else {}
    checks += [_device(dev, live.get(dev.name), status is not None) for dev in cfg.devices]
    checks += bluetooth_checks(cfg, live)
    if cfg.listen:
        checks.append(_listen(*cfg.listen))
        tls = tls_check(cfg, status is not None)
        if tls is not None:
            checks.append(tls)
    checks.append(_clock(newest_ms))
    checks += _upstream(cfg, status is not None)
    return checks


def _config(cfg: Config) -> Check:
    if cfg.source is None:
        return Check("config", WARN, "; ".join(cfg.warnings) or "built-in defaults",
                     f"write {config_mod.DEFAULT_PATH} with the monitors (docs/technician.md)")
    n = len(cfg.devices)
    return Check("config", OK, f"{cfg.source}: {n} device{'s' if n != 1 else ''}")


def _data_dir(path: Path) -> list[Check]:
    if not path.is_dir():
        return [Check("data dir", FAIL, f"{path} does not exist",
                      "start the daemon once (systemd creates it), or set [storage] path in the config")]
    st = os.statvfs(path)
    rows = []
    if st.f_flag & os.ST_RDONLY:
        rows.append(Check("data dir", FAIL, f"{path} is on a read-only filesystem",
                          "remount the data partition read-write; check `dmesg` for disk errors"))
    elif not os.access(path, os.W_OK):
        rows.append(Check("data dir", WARN, f"{path} is not writable by uid {os.geteuid()}",
                          "run doctor as root (sudo edge-app doctor) to check what the daemon sees"))
    else:
        rows.append(Check("data dir", OK, f"{path} writable"))
    status, detail = space_status(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)
    backups = path / "backups"
    fix = "" if status == OK else (f"free space on that filesystem: remove old files in {backups} (keep the "
                                   "newest), `journalctl --vacuum-size=100M`; records are never pruned")
    rows.append(Check("free space", status, detail, fix))
    return rows


def _database(path: Path) -> tuple[Check, int | None]:
    if not path.exists():
        return Check("database", WARN, f"no database yet at {path}",
                     "the daemon creates it on first start: systemctl start edge-app"), None
    if not os.access(path, os.R_OK):
        return Check("database", WARN, f"{path} is not readable by uid {os.geteuid()}",
                     "run doctor as root: sudo edge-app doctor"), None
    wal = path.with_name(path.name + "-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    pragma = "quick_check" if size > QUICK_CHECK_ABOVE else "integrity_check"
    restore = "stop the daemon and `edge-app db restore` the newest backup (the current DB is kept aside)"
    try:
        db = open_db(path, readonly=True)
        try:
            problems = [r[0] for r in db.execute(f"PRAGMA {pragma}").fetchall()]
            # The newest stored reading is the one stored last (highest id), not max(received_at): after
            # the clock was stepped back (NTP correcting it), older rows carry later times; the clock is
            # wrong only if it is behind the reading stored last.
            n_obs, newest = db.execute("SELECT count(*), (SELECT received_at FROM observations "
                                       "ORDER BY id DESC LIMIT 1) FROM observations").fetchone()
        finally:
            db.close()
    except (EdgeAppError, sqlite3.Error) as exc:
        return Check("database", FAIL, f"{path}: {exc}", restore), None
    if problems != ["ok"]:
        return Check("database", FAIL, f"{pragma}: {problems[0]}", restore), newest
    return Check("database", OK, f"{pragma} ok; {n_obs} observations, {_size(size)}"), newest


def _daemon(cfg: Config) -> tuple[Status | None, list[Check]]:
    sock = cfg.socket_path
    start = f"systemctl start edge-app; if it stops again: {LOGS}"
    if not sock.exists():
        return None, [Check("daemon", FAIL, f"not running (no socket at {sock})", start)]
    try:
        with sync_client(sock, timeout=3.0) as c:
            r = c.get("/api/v1/status")
        r.raise_for_status()
        doc = msgspec.json.decode(r.content, type=Status)
    except (httpx.HTTPError, OSError, ValueError) as exc:  # msgspec's DecodeError is a ValueError
        return None, [Check("daemon", FAIL, f"no answer on {sock}: {exc}",
                            f"systemctl restart edge-app; {LOGS}")]
    rows = [Check("daemon", OK, f"answers on {sock}: {doc.summary}")]
    store = doc.store
    if store.last_error:
        rows.append(Check("store writes", FAIL, f"the last commit failed: {store.last_error}",
                          f"check free space and `edge-app db check`; {LOGS}"))
    else:
        done = f"{store.ops} writes in {store.batches} commits"
        rows.append(Check("store writes", OK, done))
    return doc, rows


def _mode_hint(dev: DeviceConfig) -> str:
    """How to put the monitor in the output mode this protocol reads (Journey 4)."""
    p = dev.protocol
    return (f"wrong output mode: {spec_for(p).no_frames_hint}, at {dev.baudrate} baud; "
            f"confirm on a capture with `edge-app decode {p} --file CAPTURE`")


def _device(dev: DeviceConfig, live: Device | None, daemon_up: bool) -> Check:
    name = f"device {dev.name}"
    where = dev.port or (f"listen {dev.listen[0]}:{dev.listen[1]}" if dev.listen else dev.address or "?")
    serial_path = dev.port is not None and dev.port.startswith("/")
    if serial_path and not os.path.exists(dev.port or ""):
        state = f" (daemon: {live.state})" if live else ""
        return Check(name, FAIL, f"{dev.protocol} configured on {dev.port}, port absent{state}",
                     "check the cable and the udev rule (ls -l /dev/edge/); journalctl -u edge-app")
    port_note = "port present" if serial_path else "network port (no device node to check)"
    if live is None:
        why = "unknown to the daemon (restart it to load the config)" if daemon_up else "daemon not reachable"
        return Check(name, OK if not daemon_up else WARN, f"{where}: {port_note}; no live state ({why})",
                     "" if not daemon_up else "systemctl restart edge-app")
    c = live.counters
    ok, bad, nbytes = c.get("frames_ok", 0), c.get("frames_bad", 0), c.get("bytes_in", 0)
    state, detail = live.state, live.detail
    summary = f"{where}: {state}{f' ({detail})' if detail else ''}; {nbytes} bytes, {ok} frames ok, {bad} bad"
    if c.get("resyncs"):
        summary += f", {c['resyncs']} resyncs"
    if skipped := skipped_summary(c):
        summary += f"; {skipped}"
    last = live.last_frame_at
    if last:
        summary += f", last frame {_age(time.time() - last / 1000)} ago"
    if state == "error":
        hint = ("the edge-app user needs group dialout and the udev rule's MODE=0660"
                if "ermission" in detail else "replug the cable")
        return Check(name, FAIL, summary, f"{hint}; journalctl -u edge-app")
    if state != "connected":
        return Check(name, WARN, summary, "the daemon is waiting for the port: replug the cable; "
                                          "journalctl -u edge-app")
    if ok == 0 and bad >= MANY_BAD:
        arriving = summary.replace(f"{nbytes} bytes", f"bytes arriving ({nbytes})", 1)
        return Check(name, FAIL, arriving, _mode_hint(dev))
    if nbytes == 0:
        return Check(name, WARN, summary, "no bytes from the monitor: is it on, with serial output enabled "
                                          "(and a null-modem cable if it needs one)?")
    if last and time.time() - last / 1000 > STALE_FRAME_S:
        return Check(name, WARN, summary, "the monitor stopped sending: is it on, with a sensor attached?")
    if bad > ok:
        return Check(name, WARN, summary, f"noisy line: check the cable, and that the monitor sends "
                                          f"{dev.baudrate} baud")
    if c.get("skipped_code_label_conflict"):
        return Check(name, WARN, summary, "the monitor labels some values as another measurement than their "
                                          "code says (e.g. a cuff systolic coded as an arterial mean), so they "
                                          "are not recorded: check its HL7 export settings and parameter "
                                          "labels, or its firmware, with the vendor")
    return Check(name, OK, summary)


def _listen(host: str, port: int) -> Check:
    scheme = "http" if is_loopback(host) else "https"  # off loopback the listener is TLS only
    probe = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"{scheme}://[{probe}]:{port}" if ":" in probe else f"{scheme}://{probe}:{port}"
    try:
        # The certificate is self-signed and checked by its own row; here only "does it answer".
        r = httpx.get(f"{url}/healthz", timeout=3.0, verify=False)
        if r.status_code == 200:
            return Check("api listen", OK, f"{host}:{port} answers /healthz")
        return Check("api listen", FAIL, f"{host}:{port} answered {r.status_code}",
                     f"systemctl restart edge-app; {LOGS}")
    except httpx.HTTPError as exc:
        return Check("api listen", FAIL, f"{host}:{port}: {exc or type(exc).__name__}",
                     f"is the daemon running? another program on that port? {LOGS}")


def _clock(newest_ms: int | None) -> Check:
    status, detail = clock_status(time.time(), newest_ms)
    fix = "" if status == OK else ("set the time: timedatectl set-ntp true, or timedatectl set-time "
                                   "'YYYY-MM-DD HH:MM:SS'; lost at every boot: a new RTC battery")
    return Check("clock", status, detail, fix)


def _upstream(cfg: Config, daemon_up: bool) -> list[Check]:
    """The [upstream] files, then the daemon's own view: the gate, what waits, what was refused."""
    up = cfg.upstream
    if up is None:
        return [Check("upstream", OK, "not configured: nothing is forwarded")]
    fix_cfg = f"fix upstream in {cfg.source}"
    for path in up.trust_keys:
        try:
            load_public_key(path)
        except ApprovalError as exc:
            return [Check("upstream", FAIL, str(exc),
                          f"copy the authority's Ed25519 public key (PEM) there; {fix_cfg}")]
    files = {"ca_file": up.ca_file, "client_cert": up.client_cert, "client_key": up.client_key,
             "oauth_secret_file": up.oauth_secret_file}
    for name, file in files.items():
        if file is not None and not Path(file).is_file():
            return [Check("upstream", FAIL, f"upstream.{name}: {file} does not exist", fix_cfg)]
    rows = [Check("upstream config", OK, f"{up.target} {up.url}" + (
        f"; approvals from {', '.join(key_fingerprint(load_public_key(k))[:19] for k in up.trust_keys)}"
        if up.require_approval else ""))]
    if not daemon_up:
        return rows
    try:
        st = call_as(cfg.socket_path, UpstreamStatus, "GET", "/api/v1/upstream")
    except ApiClientError as exc:
        return [*rows, Check("upstream", FAIL, str(exc), f"systemctl restart edge-app; {LOGS}")]
    waiting = f"{st.pending} waiting, {st.sent} sent"
    if st.suspended:
        rows.append(Check("upstream gate", WARN, f"SUSPENDED: {st.why}; {waiting}",
                          "when allowed: edge-app upstream resume" + (" --approval FILE" if up.require_approval else "")
                          + "; meanwhile records can leave by hand: edge-app export --pending --out DIR"))
    elif not st.open:
        rows.append(Check("upstream gate", WARN, f"closed: {st.why}; {waiting}",
                          "ask the authority for an approval, then edge-app upstream resume --approval FILE"))
    else:
        rows.append(Check("upstream gate", OK, f"open; {waiting}"))
    if st.dead:
        rows.append(Check("upstream refusals", FAIL, f"{st.dead} records refused by the target; last: "
                                                     f"{st.last_error}",
                          "edge-app upstream dead-letters; fix the cause, then edge-app upstream requeue KEY"))
    if st.open and st.pending and st.uplink_seen_at is None:
        rows.append(Check("uplink", WARN, "records are waiting and the uplink has not asked for work since the "
                                          "daemon started",
                          "systemctl enable --now edge-app-uplink; journalctl -u edge-app-uplink -b"))
    elif st.open and st.last_error and (st.last_ok_at or 0) < (st.last_error_at or 0):
        rows.append(Check("uplink", WARN, f"the last try failed: {st.last_error}",
                          "check the network and the target; it retries by itself: journalctl -u edge-app-uplink"))
    return rows


def _size(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _age(s: float) -> str:
    s = max(0.0, s)
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.0f} h"
