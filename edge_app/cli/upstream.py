"""`edge-app upstream status|suspend|resume|dead-letters|requeue` through the daemon, and the authority's
own tools `keygen`, `approve` and `sign-suspend` (they need no box: run them where the authority keeps
its key)."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edge_app.client import call, call_as
from edge_app.config import Config
from edge_app.errors import EdgeAppError
from edge_app.model.upstream import OrderResult, OutboxEntry, UpstreamStatus


def _when(ms: int | None) -> str:
    if ms is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))


def print_status(st: UpstreamStatus) -> None:
    if not st.configured:
        print("upstream: not configured (no [upstream] in the config): nothing is ever forwarded")
        return
    state = "OPEN" if st.open else ("SUSPENDED" if st.suspended else "CLOSED")
    print(f"gate:       {state}: {st.why}")
    print(f"target:     {st.target} {st.url}  (vehicle {st.vehicle})")
    if st.approval:
        a = st.approval
        print(f"approval:   by {a.issued_by or '?'}, {_when(a.not_before_ms)} to {_when(a.not_after_ms)}, "
              f"key {a.key_fingerprint}")
    elif st.require_approval:
        print("approval:   required, none given yet")
    oldest = f" (oldest {_when(st.oldest_pending_at)})" if st.pending else ""
    print(f"outbox:     {st.pending} waiting{oldest}, {st.sent} sent, {st.dead} refused")
    print(f"last sent:  {_when(st.last_ok_at)}")
    if st.last_error:
        print(f"last error: {_when(st.last_error_at)}: {st.last_error}")
    seen = st.uplink_seen_at
    print("uplink:     " + (f"last asked for work {_when(seen)}" if seen else
                            "not seen since the daemon started (is edge-app-uplink running?)"))
    if st.dead:
        print("refused records: `edge-app upstream dead-letters`; after fixing the cause: "
              "`edge-app upstream requeue KEY`")


def upstream_command(cfg: Config, action: str, *, reason: str | None = None, approval: str | None = None,
                     key: str | None = None, order: str | None = None, as_json: bool = False) -> int:
    sock = cfg.socket_path
    if action == "status":
        if as_json:
            print(json.dumps(call(sock, "GET", "/api/v1/upstream").json(), indent=2))
        else:
            print_status(call_as(sock, UpstreamStatus, "GET", "/api/v1/upstream"))
        return 0
    if action == "suspend" and order:
        got = call_as(sock, OrderResult, "POST", "/api/v1/upstream/orders",
                      json=_read_json(order, "a suspend order"))
        st = got.status
        if got.result == "already":
            print("this order was applied before; " + ("forwarding is still suspended" if st.suspended else
                                                       "forwarding was resumed since (an order applies once)"))
            return 0
        print(f"suspended by the signed order: {st.reason} ({st.pending} waiting)")
        return 0
    if action == "suspend":
        st = call_as(sock, UpstreamStatus, "POST", "/api/v1/upstream/suspend", json={"reason": reason})
        print(f"suspended: nothing leaves the vehicle until `edge-app upstream resume` ({st.pending} waiting)")
        return 0
    if action == "resume":
        body: dict[str, Any] = {"reason": reason or ""}
        if approval:
            body["approval"] = _read_json(approval, "an approval")
        st = call_as(sock, UpstreamStatus, "POST", "/api/v1/upstream/resume", json=body)
        print_status(st)
        return 0 if st.open else 1
    if action == "dead-letters":
        rows = call_as(sock, list[OutboxEntry], "GET", "/api/v1/upstream/dead-letters")
        if not rows:
            print("no refused records")
        for e in rows:
            print(f"{e.key}  {e.kind:<12}  refused {_when(e.dead_at)}  HTTP {e.http_status or '-'}: "
                  f"{e.last_error}")
        return 0
    if action == "requeue":
        call(sock, "POST", f"/api/v1/upstream/dead-letters/{key}/requeue")
        print(f"{key}: queued again")
        return 0
    raise AssertionError(action)


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise EdgeAppError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError):
        raise EdgeAppError(f"{path}: not {what} file (not JSON)") from None


def keygen_command(stem: str) -> int:
    # lazy: cryptography only for the authority's commands
    from edge_app.upstream.approval import ApprovalError, generate_keypair, key_fingerprint, load_public_key

    try:
        priv, pub = generate_keypair(Path(stem))
    except ApprovalError as exc:
        raise EdgeAppError(str(exc)) from None
    print(f"private key: {priv} (keep it with the authority; never on a vehicle)")
    print(f"trust key:   {pub} (install on each vehicle; list it in upstream.trust_keys)")
    print(f"fingerprint: {key_fingerprint(load_public_key(pub))}")
    return 0


def approve_command(key: str, vehicle: str, hours: float, issued_by: str, out: str | None,
                    start: str | None = None) -> int:
    # lazy: cryptography only for the authority's commands
    from edge_app.upstream.approval import ApprovalError, load_private_key, parse_time, sign

    if not 0 < hours <= 24 * 366:
        raise EdgeAppError("--hours: expected more than 0 and at most a year")
    try:
        private = load_private_key(key)
        begin = datetime.fromtimestamp(parse_time(start, "start") / 1000, UTC) if start else datetime.now(UTC)
    except ApprovalError as exc:
        raise EdgeAppError(str(exc)) from None
    doc = sign(private, vehicle, begin, begin + timedelta(hours=hours), issued_by)
    text = json.dumps(doc, indent=2) + "\n"
    if out:
        Path(out).write_text(text, encoding="utf-8")
        print(f"approval for {vehicle} valid {doc['approval']['not_before']} to {doc['approval']['not_after']}: {out}")
    else:
        print(text, end="")
    return 0


def sign_suspend_command(key: str, vehicles: list[str] | None, reason: str, issued_by: str, out: str | None) -> int:
    """vehicles None: the whole fleet."""
    # lazy: cryptography only for the authority's commands
    from edge_app.upstream.approval import ApprovalError, load_private_key
    from edge_app.upstream.orders import ALL_VEHICLES, sign_order

    try:
        doc = sign_order(load_private_key(key), vehicles or [ALL_VEHICLES], reason, issued_by, datetime.now(UTC))
    except ApprovalError as exc:
        raise EdgeAppError(str(exc)) from None
    text = json.dumps(doc, indent=2) + "\n"
    who = ", ".join(vehicles) if vehicles else "the whole fleet"
    if out:
        Path(out).write_text(text, encoding="utf-8")
        print(f"suspend order for {who} ({doc['order']['id']}): {out}")
        print("apply it with `edge-app upstream suspend --order FILE`, or publish it (retained, QoS 1) to the "
              "MQTT control topic")
    else:
        print(text, end="")
    return 0
