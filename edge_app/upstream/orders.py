"""Suspend orders: the fleet's signed "stop forwarding now" (JOURNEYS 3.1).

When the trust's security team announces an incident, nobody should have to reach each vehicle by hand.
The authority signs one order, for some vehicles or the whole fleet, with the same Ed25519 key it signs
approvals with (`edge-app upstream sign-suspend`); it reaches the box as a file a technician applies
(`edge-app upstream suspend --order FILE`), or over the MQTT target's control topics, which the uplink
passes to the daemon. The daemon checks it against `upstream.trust_keys` and suspends forwarding.

    {"order": {"type": "edge-app-upstream-suspend", "vehicles": ["AMB-042"] or ["*"],
               "reason": "incident 2026-11-22", "issued_at": "2026-11-22T09:30:00Z",
               "issued_by": "EOC duty manager", "id": "<uuid>"},
     "signature": "<base64 of Ed25519 over the canonical JSON of order>"}

A suspend only ever stops data leaving, so an order for the whole fleet is allowed. What must not
happen is an old order undoing a reconnection the authority approved later: an order the box has
applied once is never applied again (a retained MQTT message arrives at every reconnect), and an order
issued before the box's last resume is refused. An order older than MAX_AGE is refused too: a message
that sat on a broker for weeks is not today's instruction.
"""
from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge_app.model.upstream import OrderSummary
from edge_app.upstream.approval import ApprovalError, canonical, check_signed, iso, iso_dt, key_fingerprint, parse_time

ORDER_TYPE = "edge-app-upstream-suspend"
ALL_VEHICLES = "*"
MAX_AGE = timedelta(days=7)
MAX_AHEAD = timedelta(hours=1)  # the authority's clock may run ahead of the box's by this much
REASON_MAX = 300


@dataclass(frozen=True, slots=True)
class SuspendOrder:
    order_id: str
    reason: str
    issued_at_ms: int
    issued_by: str
    key_fingerprint: str

    def summary(self) -> OrderSummary:
        """What the gate keeps of the order once applied."""
        return OrderSummary(order_id=self.order_id, issued_at_ms=self.issued_at_ms, issued_by=self.issued_by,
                            key_fingerprint=self.key_fingerprint)


def verify_order(doc: Any, trust_keys: list[Ed25519PublicKey], vehicle: str, now_ms: int) -> SuspendOrder:
    """The order if it is well formed, signed by one of trust_keys, names this vehicle (or all) and is
    recent. Whether it was applied already, or predates the last resume, is the store's question."""
    body, signer = check_signed(doc, "order", trust_keys)
    if body.get("type") != ORDER_TYPE:
        raise ApprovalError(f"order refused: type is {body.get('type')!r}, not {ORDER_TYPE!r}")
    vehicles = body.get("vehicles")
    if not isinstance(vehicles, list) or not vehicles or not all(isinstance(v, str) for v in vehicles):
        raise ApprovalError('order refused: "vehicles" must list vehicle ids, or be ["*"] for the whole fleet')
    if vehicle not in vehicles and ALL_VEHICLES not in vehicles:
        shown = ", ".join(vehicles[:5]) + (", …" if len(vehicles) > 5 else "")
        raise ApprovalError(f"order refused: it is for {shown}, this is {vehicle!r}")
    reason, order_id = body.get("reason"), body.get("id")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > REASON_MAX:
        raise ApprovalError(f"order refused: reason must be 1 to {REASON_MAX} characters")
    if not isinstance(order_id, str) or not 1 <= len(order_id) <= 64:
        raise ApprovalError("order refused: id must be 1 to 64 characters")
    issued = parse_time(body.get("issued_at"), "issued_at", "order")
    if issued > now_ms + MAX_AHEAD.total_seconds() * 1000:
        raise ApprovalError(f"order refused: issued at {body['issued_at']}, in the future (box clock: {iso(now_ms)})")
    if issued < now_ms - MAX_AGE.total_seconds() * 1000:
        raise ApprovalError(f"order refused: issued at {body['issued_at']}, more than {MAX_AGE.days} days ago "
                            f"(box clock: {iso(now_ms)})")
    return SuspendOrder(order_id=order_id, reason=" ".join(reason.split()), issued_at_ms=issued,
                        issued_by=str(body.get("issued_by") or "")[:100], key_fingerprint=key_fingerprint(signer))


def sign_order(key: Ed25519PrivateKey, vehicles: list[str], reason: str, issued_by: str,
               issued_at: datetime) -> dict[str, Any]:
    """What the authority's `edge-app upstream sign-suspend` writes."""
    if not vehicles:
        raise ApprovalError("name at least one vehicle, or the whole fleet")
    if not reason.strip() or len(reason) > REASON_MAX:
        raise ApprovalError(f"the reason must be 1 to {REASON_MAX} characters")
    body = {"type": ORDER_TYPE, "vehicles": vehicles, "reason": reason, "issued_at": iso_dt(issued_at),
            "issued_by": issued_by, "id": str(uuid.uuid4())}
    return {"order": body, "signature": base64.b64encode(key.sign(canonical(body))).decode()}
