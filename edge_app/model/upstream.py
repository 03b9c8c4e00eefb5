"""Forwarding: the gate's state, the outbox's entries, and what the uplink is handed."""
from __future__ import annotations

from typing import Any, Literal

import msgspec

EntryKind = Literal["encounter", "observations"]


class ApprovalSummary(msgspec.Struct, frozen=True):
    """A verified reconnection approval, as kept with the resume it opened."""

    vehicle: str
    not_before_ms: int
    not_after_ms: int
    issued_by: str
    approval_id: str
    key_fingerprint: str


class OrderSummary(msgspec.Struct, frozen=True):
    """A verified suspend order from the fleet, as kept with the suspend it caused."""

    order_id: str
    issued_at_ms: int
    issued_by: str
    key_fingerprint: str


class GateEvent(msgspec.Struct, frozen=True):
    """The newest suspend or resume: it is the gate's state."""

    at: int
    actor: str
    action: Literal["suspend", "resume"]
    reason: str
    approval: ApprovalSummary | None = None
    order: OrderSummary | None = None


class GateState(msgspec.Struct, frozen=True):
    """May records leave now; why (one line: what is happening, and when closed, what would open it)."""

    open: bool
    why: str
    suspended: bool = False
    reason: str | None = None  # the reason given at the last suspend or resume
    since: int | None = None
    by: str | None = None
    approval: ApprovalSummary | None = None
    order: OrderSummary | None = None  # the fleet's signed order, when that is what suspended it


class OutboxCounts(msgspec.Struct, frozen=True):
    pending: int
    dead: int
    sent: int
    oldest_pending_at: int | None
    observation_cursor: int
    last_ok_at: int | None
    last_error: str | None
    last_error_at: int | None


class UpstreamStatus(msgspec.Struct, frozen=True):
    configured: bool
    target: str | None
    url: str | None
    vehicle: str
    open: bool
    why: str
    suspended: bool
    reason: str | None
    since: int | None
    by: str | None
    approval: ApprovalSummary | None
    order: OrderSummary | None
    require_approval: bool
    live_observations: bool
    pending: int
    dead: int
    sent: int
    oldest_pending_at: int | None
    last_ok_at: int | None
    last_error: str | None
    last_error_at: int | None
    uplink_seen_at: int | None


class OutboxEntry(msgspec.Struct, frozen=True):
    """One record waiting to leave (or refused: a dead letter); key is its idempotency key."""

    seq: int
    key: str
    kind: EntryKind
    encounter_id: str
    encounter_status: str | None
    first_obs: int | None
    last_obs: int | None
    created_at: int
    state: Literal["pending", "dead"]
    attempts: int
    last_attempt_at: int | None
    last_error: str | None
    http_status: int | None
    dead_at: int | None


class OutboxBatch(msgspec.Struct, frozen=True):
    open: bool
    why: str
    entries: list[OutboxEntry]


class OutboxPayload(msgspec.Struct, frozen=True):
    key: str
    kind: EntryKind
    encounter_id: str
    bundle: dict[str, Any]  # a FHIR R4 transaction Bundle: JSON for the target, as FHIR defines it


class AckResult(msgspec.Struct, frozen=True):
    result: Literal["acked", "already"]


class OrderResult(msgspec.Struct, frozen=True):
    result: Literal["applied", "already"]
    status: UpstreamStatus
