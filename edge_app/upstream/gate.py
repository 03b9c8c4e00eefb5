"""May records leave the vehicle now? One answer, with the reason, from the config, the gate's newest
event and the clock. Forwarding runs only when a target is configured, nobody has suspended it, and (with
upstream.require_approval) the approval given at the last resume is signed by a key still trusted and is
valid now. Pure: the store keeps the events, the API and the CLI show the answer."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from edge_app.config import UpstreamConfig
from edge_app.model.upstream import GateEvent, GateState


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def gate_state(up: UpstreamConfig | None, last: GateEvent | None, now_ms: int,
               trusted: set[str]) -> GateState:
    """trusted: fingerprints of the keys in upstream.trust_keys that load today."""
    if up is None:
        return GateState(False, "not configured: no [upstream] in the config, nothing is ever forwarded")
    at: dict[str, Any] = {"reason": last.reason, "since": last.at, "by": last.actor} if last else {}
    if last and last.action == "suspend":
        return GateState(False, f"suspended by {last.actor} at {_iso(last.at)}: {last.reason}",
                         suspended=True, order=last.order, **at)
    if not up.require_approval:
        return GateState(True, f"forwarding to {up.target} {up.url}", **at)
    approval = last.approval if last else None
    if not approval:
        return GateState(False, "waiting for an approval (upstream.require_approval): "
                                "edge-app upstream resume --approval FILE", suspended=False, **at)
    at["approval"] = approval
    if approval.key_fingerprint not in trusted:
        return GateState(False, f"the approval's key {approval.key_fingerprint} is no longer in "
                                "upstream.trust_keys: a new approval is needed", **at)
    if now_ms < approval.not_before_ms:
        return GateState(False, f"approved from {_iso(approval.not_before_ms)} only (box clock {_iso(now_ms)})",
                         **at)
    if now_ms > approval.not_after_ms:
        return GateState(False, f"the approval expired at {_iso(approval.not_after_ms)}: a new approval is "
                                "needed (edge-app upstream resume --approval FILE)", **at)
    return GateState(True, f"forwarding to {up.target} {up.url} (approved by {approval.issued_by or 'the authority'}"
                           f" until {_iso(approval.not_after_ms)})", **at)
