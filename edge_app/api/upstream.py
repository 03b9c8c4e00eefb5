"""Forwarding: the gate (status, suspend, resume), the outbox the uplink drains, dead letters.

The uplink process is a client of these routes with the uplink scope: it can read the outbox, fetch a
payload while the gate is open, confirm, report a failure or a refusal, and suspend (when the target's
identity is wrong), but never resume. Crews see the status line; technicians may do everything.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import ClientException
from litestar.params import Parameter

from edge_app.api.common import actor_of, now_ms, store_call, store_write
from edge_app.api.context import AppContext
from edge_app.store import outbox
from edge_app.store.records import append_audit

_LOGGER = logging.getLogger(__name__)
KEY_RE = r"^(enc-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-v[0-9]{1,9}|obs-[0-9]{1,18}-[0-9]{1,18})$"
OutboxKey = Annotated[str, Parameter(pattern=KEY_RE, max_length=60, description="an outbox entry's idempotency key")]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class UpstreamStatus(msgspec.Struct):
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
    approval: dict[str, Any] | None
    order: dict[str, Any] | None
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


class SuspendRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class ResumeRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""
    approval: dict[str, Any] | None = None


class SignedOrder(msgspec.Struct, forbid_unknown_fields=True):
    """The fleet's suspend order as signed (edge_app.upstream.orders); checked by the daemon."""

    order: dict[str, Any]
    signature: Annotated[str, msgspec.Meta(max_length=200)]


class OrderResult(msgspec.Struct):
    result: Literal["applied", "already"]
    status: UpstreamStatus


class OutboxEntry(msgspec.Struct):
    seq: int
    key: str
    kind: Literal["encounter", "observations"]
    encounter_id: str
    created_at: int
    state: Literal["pending", "dead"]
    attempts: int
    last_attempt_at: int | None
    last_error: str | None
    http_status: int | None
    dead_at: int | None


class OutboxBatch(msgspec.Struct):
    open: bool
    why: str
    entries: list[OutboxEntry]


class OutboxPayload(msgspec.Struct):
    key: str
    kind: Literal["encounter", "observations"]
    encounter_id: str
    bundle: dict[str, Any]


class AckResult(msgspec.Struct):
    result: Literal["acked", "already"]


class ManifestRecord(msgspec.Struct, forbid_unknown_fields=True):
    file: Annotated[str, msgspec.Meta(pattern=r"^records/[A-Za-z0-9._-]{1,80}\.json$")]
    key: Annotated[str, msgspec.Meta(max_length=80)]
    kind: Literal["encounter", "observations"]
    encounter_id: Annotated[str, msgspec.Meta(max_length=36)]
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    bytes: Annotated[int, msgspec.Meta(ge=0)]


class SignRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The records of an offline bundle; the daemon adds the type, its vehicle and the time, and signs."""

    records: Annotated[list[ManifestRecord], msgspec.Meta(max_length=100_000)]


class Signed(msgspec.Struct):
    manifest: str  # the exact text that was signed: write it as manifest.json byte for byte
    signature: str
    public_key: str
    fingerprint: str


class FailureReport(msgspec.Struct, forbid_unknown_fields=True):
    error: Reason
    status: Annotated[int, msgspec.Meta(ge=100, le=599)] | None = None


def _entry(e: dict[str, Any]) -> OutboxEntry:
    return msgspec.convert({k: e[k] for k in OutboxEntry.__struct_fields__}, OutboxEntry)


def _principal_scope(request: Request[Any, Any, Any]) -> str:
    p = request.scope.get("state", {}).get("principal")
    return p.scope if p is not None else "technician"


class UpstreamController(Controller):
    path = "/api/v1/upstream"
    tags = ["upstream"]

    @get("", summary="The gate (may records leave now, and why not), the outbox, the last success and error",
         sync_to_thread=True)
    def status(self, ctx: AppContext) -> UpstreamStatus:
        return msgspec.convert(ctx.upstream_status(), UpstreamStatus)

    @post("/suspend", status_code=200, summary="Stop forwarding now (technician, or the uplink itself)")
    async def suspend(self, ctx: AppContext, data: SuspendRequest, request: Request[Any, Any, Any]
                      ) -> UpstreamStatus:
        await ctx.write(outbox.gate_event("suspend", data.reason, now_ms(), actor_of(request)))
        ctx.upstream_wake()
        return msgspec.convert(await ctx.read(ctx.upstream_status), UpstreamStatus)

    @post("/orders", status_code=200, summary="Apply the fleet's signed suspend order (technician, or the uplink "
                                              "passing one on): its authority is the signature")
    async def order(self, ctx: AppContext, data: SignedOrder, request: Request[Any, Any, Any]) -> OrderResult:
        from edge_app.upstream.approval import ApprovalError, iso
        from edge_app.upstream.orders import verify_order

        if ctx.config.upstream is None:
            raise ClientException(detail="no [upstream] in the config: nothing is forwarded, nothing to suspend",
                                  status_code=409)
        try:
            o = verify_order(msgspec.to_builtins(data), ctx.trust_keys, ctx.config.vehicle_id, now_ms())
        except ApprovalError as exc:
            raise ClientException(detail=str(exc), status_code=422) from None
        actor = f"signed order from {o.issued_by or 'the authority'} (via {actor_of(request)})"
        try:
            result = await ctx.write(outbox.apply_suspend_order(o.summary(), o.reason, now_ms(), actor))
        except outbox.OrderSuperseded as exc:
            raise ClientException(detail=f"order refused: issued at {iso(o.issued_at_ms)}, before forwarding was "
                                         f"resumed at {iso(exc.resumed_at)}", status_code=409) from None
        if result == "applied":
            _LOGGER.warning("upstream suspended by %s: %s", actor, o.reason)
            ctx.upstream_wake()
        return OrderResult(result=result, status=msgspec.convert(await ctx.read(ctx.upstream_status), UpstreamStatus))

    @post("/resume", status_code=200, summary="Forward again; with require_approval, give a signed approval")
    async def resume(self, ctx: AppContext, data: ResumeRequest, request: Request[Any, Any, Any]) -> UpstreamStatus:
        from edge_app.upstream.approval import ApprovalError, verify

        up = ctx.config.upstream
        if up is None:
            raise ClientException(detail="no [upstream] in the config: there is nothing to resume", status_code=409)
        approval: dict[str, Any] | None = None
        if data.approval is not None or up.require_approval:
            if data.approval is None:
                raise ClientException(detail="upstream.require_approval is set: resume needs an approval signed by "
                                             "the authority (edge-app upstream resume --approval FILE)",
                                      status_code=422)
            try:
                a = verify(data.approval, ctx.trust_keys, ctx.config.vehicle_id, now_ms())
            except ApprovalError as exc:
                raise ClientException(detail=str(exc), status_code=422) from None
            approval = {"vehicle": a.vehicle, "not_before_ms": a.not_before_ms, "not_after_ms": a.not_after_ms,
                        "issued_by": a.issued_by, "approval_id": a.approval_id, "key_fingerprint": a.key_fingerprint}
        reason = data.reason or ("approved by " + (approval["issued_by"] or "the authority") if approval else "resumed")
        await ctx.write(outbox.gate_event("resume", reason, now_ms(), actor_of(request), approval))
        ctx.upstream_wake()
        return msgspec.convert(await ctx.read(ctx.upstream_status), UpstreamStatus)

    @get("/outbox", summary="Entries waiting to go (none for the uplink while the gate is closed); wait: "
                             "long-poll seconds")
    async def pending(self, ctx: AppContext, request: Request[Any, Any, Any],
                      limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
                      after: Annotated[int, Parameter(ge=0, le=2**53 - 1,
                                                      description="page: entries after this seq")] = 0,
                      wait: Annotated[float, Parameter(ge=0, le=60)] = 0) -> OutboxBatch:
        uplink = _principal_scope(request) == "uplink"
        if uplink:
            ctx.uplink_seen_ms = now_ms()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            changed = ctx.upstream_event  # taken before looking: a change from here on sets it
            gate = await ctx.read(ctx.gate)
            entries: list[dict[str, Any]] = []
            if gate.open:
                up = ctx.config.upstream
                if up is not None and up.live_observations:
                    # mypy cannot infer a lambda with a default argument (n= binds the size now: bugbear B023)
                    await ctx.write(lambda db, n=up.batch_size: outbox.cut_observation_entries(db, now_ms(),  # type: ignore[misc]
                                                                                           per_entry=n))
            if gate.open or not uplink:  # a technician sees what waits even when closed (to carry it out)
                entries = await ctx.read(lambda: outbox.pending(ctx.reader.db, limit, after))
            left = deadline - loop.time()
            if entries or left <= 0 or ctx.config.upstream is None or not (gate.open or uplink):
                return OutboxBatch(open=gate.open, why=gate.why, entries=[_entry(e) for e in entries])
            try:
                await asyncio.wait_for(changed.wait(), timeout=min(left, 5.0))
            except TimeoutError:
                pass

    @get("/outbox/{key:str}", summary="One entry's payload: a FHIR transaction Bundle", sync_to_thread=True)
    def payload(self, ctx: AppContext, key: OutboxKey, request: Request[Any, Any, Any]) -> OutboxPayload:
        if _principal_scope(request) == "uplink":
            gate = ctx.gate()
            if not gate.open:
                raise ClientException(detail=f"forwarding is closed: {gate.why}", status_code=423)
        e = store_call(lambda: outbox.entry(ctx.reader.db, key))
        bundle = store_call(lambda: ctx.outbox_bundle(e))
        ctx.audit(actor_of(request), "upstream.read", e["encounter_id"], {"key": key})
        return OutboxPayload(key=key, kind=e["kind"], encounter_id=e["encounter_id"], bundle=bundle)

    @post("/outbox/{key:str}/ack", status_code=200, summary="The target confirmed it: it leaves the outbox")
    async def ack(self, ctx: AppContext, key: OutboxKey, request: Request[Any, Any, Any]) -> AckResult:
        result = await store_write(lambda: ctx.write(outbox.ack(key, now_ms(), actor_of(request))))
        ctx.upstream_wake()
        return AckResult(result=result)

    @post("/outbox/{key:str}/fail", status_code=204, summary="A try failed and will be retried (5xx, timeout)")
    async def fail(self, ctx: AppContext, key: OutboxKey, data: FailureReport) -> None:
        await store_write(lambda: ctx.write(outbox.failed(key, now_ms(), data.error, data.status)))

    @post("/outbox/{key:str}/dead", status_code=200, summary="The target refused it (4xx): a dead letter")
    async def dead(self, ctx: AppContext, key: OutboxKey, data: FailureReport,
                   request: Request[Any, Any, Any]) -> OutboxEntry:
        e = await store_write(lambda: ctx.write(outbox.dead(key, now_ms(), data.error, data.status,
                                                            actor_of(request))))
        ctx.upstream_wake()
        return _entry(e)

    @post("/sign", status_code=200, summary="Sign an offline bundle's manifest with the vehicle's key (technician)")
    async def sign(self, ctx: AppContext, data: SignRequest, request: Request[Any, Any, Any]) -> Signed:
        import time

        from edge_app.upstream.approval import key_fingerprint
        from edge_app.upstream.offline import BUNDLE_TYPE, public_pem, sign_manifest

        if not ctx.config.vehicle_id:
            raise ClientException(detail="appliance.vehicle_id is not set: a bundle must name its vehicle",
                                  status_code=409)
        key = await ctx.read(ctx.bundle_key)
        manifest = {"type": BUNDLE_TYPE, "vehicle": ctx.config.vehicle_id,
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "signing_key": key_fingerprint(key.public_key()),
                    "records": [msgspec.to_builtins(r) for r in data.records]}
        text, sig = sign_manifest(key, manifest)
        await ctx.write(lambda db: append_audit(db, now_ms(), actor_of(request), "upstream.export", None,
                                                {"records": len(data.records)}))
        return Signed(manifest=text.decode(), signature=sig, public_key=public_pem(key.public_key()),
                      fingerprint=key_fingerprint(key.public_key()))

    @get("/dead-letters", summary="Entries the target refused, with its reason", sync_to_thread=True)
    def dead_letters(self, ctx: AppContext) -> list[OutboxEntry]:
        return [_entry(e) for e in outbox.dead_letters(ctx.reader.db)]

    @post("/dead-letters/{key:str}/requeue", status_code=200, summary="Send a dead letter again (technician)")
    async def requeue(self, ctx: AppContext, key: OutboxKey, request: Request[Any, Any, Any]) -> OutboxEntry:
        e = await store_write(lambda: ctx.write(outbox.requeue(key, now_ms(), actor_of(request))))
        ctx.upstream_wake()
        return _entry(e)
