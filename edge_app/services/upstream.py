"""Forwarding: the gate (may records leave?), the outbox the uplink drains, dead letters, offline bundles.

The uplink is held to its scope by the routes' guards; what it may see here while the gate is closed
(nothing: the long poll returns no entries and a payload is Locked) is decided below, by `uplink`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
import sqlite_utils

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge_app.clock import now_ms
from edge_app.config import Config
from edge_app.errors import Conflict, InvalidInput, Locked
from edge_app.model.events import UpstreamChanged
from edge_app.model.requests import ManifestRecord
from edge_app.model.system import Signed
from edge_app.model.upstream import (
    AckResult,
    GateState,
    OrderResult,
    OutboxBatch,
    OutboxEntry,
    OutboxPayload,
    UpstreamStatus,
)
from edge_app.services.handover import HandoverService
from edge_app.services.hub import Hub
from edge_app.store import outbox
from edge_app.store.access import Store
from edge_app.store.audit import append_audit
from edge_app.upstream.approval import ApprovalError, iso, key_fingerprint, load_public_key, verify
from edge_app.upstream.gate import gate_state
from edge_app.upstream.offline import BUNDLE_TYPE, public_pem, sign_manifest, signing_key
from edge_app.upstream.orders import verify_order

_LOGGER = logging.getLogger(__name__)
RECHECK_S = 5.0  # a long poll looks again this often even unwoken (an approval's window opening, say)


def _cut_live(per_entry: int) -> Callable[[sqlite_utils.Database], int]:
    """Cut what was stored since the last look into live-observation entries (upstream.live_observations)."""
    return lambda db: outbox.cut_observation_entries(db, now_ms(), per_entry=per_entry)


class UpstreamService:
    def __init__(self, store: Store, hub: Hub, config: Config, handover: HandoverService) -> None:
        self.store = store
        self.hub = hub
        self.config = config
        self.handover = handover
        self.uplink_seen_ms: int | None = None
        # Woken when the outbox or the gate changes (the uplink long-polls on it); replaced at each wake.
        self._changed = asyncio.Event()
        self.trust_keys: list[Ed25519PublicKey] = []  # from upstream.trust_keys
        self.trust_key_errors: list[str] = []
        self._bundle_key: Ed25519PrivateKey | None = None
        for path in config.upstream.trust_keys if config.upstream else ():
            try:
                self.trust_keys.append(load_public_key(path))
            except ApprovalError as exc:
                self.trust_key_errors.append(str(exc))
                _LOGGER.error("%s (approvals signed by it will be refused)", exc)

    # -- waking the long polls and the screens ---------------------------------------------------------
    def changed(self) -> None:
        """The gate or the outbox changed: wake the long polls, and tell the screens (the status line)."""
        self.wake()
        self.hub.publish(UpstreamChanged(changed_at=now_ms()))

    def wake(self) -> None:
        """Wake every long poll that began before this change. A fresh Event each time rather than set()
        and clear(): with two pollers (the uplink, a technician), one clearing the shared event could
        swallow the wake-up meant for the other, which then slept out its timeout."""
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def observations_stored(self) -> None:
        """New observations are committed: with upstream.live_observations the uplink's poll cuts them into
        an entry now, not at its next recheck. The screens hear nothing (the stream has the readings)."""
        up = self.config.upstream
        if up is not None and up.live_observations:
            self.wake()

    def record_status_changed(self, status: str) -> None:
        """An encounter was handed over or closed: with forwarding configured, it is now in the outbox."""
        if self.config.upstream is not None and status in ("handed_over", "closed"):
            self.changed()

    # -- the gate --------------------------------------------------------------------------------------
    def gate(self) -> GateState:
        """The gate's state now (call on a reader thread)."""
        return gate_state(self.config.upstream, outbox.last_gate_event(self.store.reader.db), now_ms(),
                          {key_fingerprint(k) for k in self.trust_keys})

    def status(self) -> UpstreamStatus:
        """Everything about forwarding in one document (call on a reader thread)."""
        up = self.config.upstream
        gate = self.gate()
        n = outbox.counts(self.store.reader.db)
        return UpstreamStatus(
            configured=up is not None, target=up.target if up else None, url=up.url if up else None,
            vehicle=self.config.vehicle_id, open=gate.open, why=gate.why, suspended=gate.suspended,
            reason=gate.reason, since=gate.since, by=gate.by, approval=gate.approval, order=gate.order,
            require_approval=bool(up and up.require_approval), live_observations=bool(up and up.live_observations),
            pending=n.pending, dead=n.dead, sent=n.sent, oldest_pending_at=n.oldest_pending_at,
            last_ok_at=n.last_ok_at, last_error=n.last_error, last_error_at=n.last_error_at,
            uplink_seen_at=self.uplink_seen_ms)

    async def suspend(self, reason: str, actor: str) -> UpstreamStatus:
        await self.store.write(outbox.gate_event("suspend", reason, now_ms(), actor))
        self.changed()
        return await self.store.read(self.status)

    async def apply_order(self, doc: dict[str, Any], actor: str) -> OrderResult:
        """The fleet's signed suspend order (its authority is its signature), applied once ever."""
        if self.config.upstream is None:
            raise Conflict("no [upstream] in the config: nothing is forwarded, nothing to suspend")
        try:
            o = verify_order(doc, self.trust_keys, self.config.vehicle_id, now_ms())
        except ApprovalError as exc:
            raise InvalidInput(str(exc)) from None
        by = f"signed order from {o.issued_by or 'the authority'} (via {actor})"
        try:
            result = await self.store.write(outbox.apply_suspend_order(o.summary(), o.reason, now_ms(), by))
        except outbox.OrderSuperseded as exc:
            raise Conflict(f"order refused: issued at {iso(o.issued_at_ms)}, before forwarding was resumed at "
                           f"{iso(exc.resumed_at)}") from None
        if result == "applied":
            _LOGGER.warning("upstream suspended by %s: %s", by, o.reason)
            self.changed()
        return OrderResult(result=result, status=await self.store.read(self.status))

    async def resume(self, reason: str, approval_doc: dict[str, Any] | None, actor: str) -> UpstreamStatus:
        """Forward again; with require_approval only with an approval signed by a trust key."""
        up = self.config.upstream
        if up is None:
            raise Conflict("no [upstream] in the config: there is nothing to resume")
        approval = None
        if approval_doc is not None or up.require_approval:
            if approval_doc is None:
                raise InvalidInput("upstream.require_approval is set: resume needs an approval signed by the "
                                   "authority (edge-app upstream resume --approval FILE)")
            try:
                approval = verify(approval_doc, self.trust_keys, self.config.vehicle_id, now_ms()).summary()
            except ApprovalError as exc:
                raise InvalidInput(str(exc)) from None
        if not reason:
            reason = "approved by " + (approval.issued_by or "the authority") if approval else "resumed"
        await self.store.write(outbox.gate_event("resume", reason, now_ms(), actor, approval))
        self.changed()
        return await self.store.read(self.status)

    # -- the outbox ------------------------------------------------------------------------------------
    async def pending(self, limit: int, after: int, wait: float, *, uplink: bool) -> OutboxBatch:
        """What waits; with wait, a long poll until something does. The uplink sees nothing while the gate
        is closed; a technician sees what waits even then (to carry it out by hand)."""
        if uplink:
            self.uplink_seen_ms = now_ms()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            changed = self._changed  # taken before looking: a change from here on sets it
            gate = await self.store.read(self.gate)
            entries: list[OutboxEntry] = []
            up = self.config.upstream
            if gate.open and up is not None and up.live_observations:
                await self.store.write(_cut_live(up.batch_size))
            if gate.open or not uplink:
                entries = await self.store.read(lambda: outbox.pending(self.store.reader.db, limit, after))
            left = deadline - loop.time()
            if entries or left <= 0 or up is None or not (gate.open or uplink):
                return OutboxBatch(open=gate.open, why=gate.why, entries=entries)
            try:
                await asyncio.wait_for(changed.wait(), timeout=min(left, RECHECK_S))
            except TimeoutError:
                pass

    def payload(self, key: str, actor: str, *, uplink: bool) -> OutboxPayload:
        """One entry's payload, built from the record as it is now (call on a reader thread)."""
        if uplink:
            gate = self.gate()
            if not gate.open:
                raise Locked(f"forwarding is closed: {gate.why}")
        e = outbox.entry(self.store.reader.db, key)
        up = self.config.upstream
        now = now_ms()
        if e.kind == "encounter":
            bundle = self.handover.bundle(e.encounter_id, now, panels=not (up and up.live_observations),
                                          series=bool(up and up.raw_series))
        else:
            assert e.first_obs is not None and e.last_obs is not None
            rows = [o for o in self.store.reader.observations(encounter_id=e.encounter_id, after=e.first_obs - 1,
                                                              limit=e.last_obs - e.first_obs + 1, charted=True)
                    if o.id <= e.last_obs]
            bundle = self.handover.bundle(e.encounter_id, now, panels=False, observations=rows)
        self.store.audit(actor, "upstream.read", e.encounter_id, {"key": key})
        return OutboxPayload(key=key, kind=e.kind, encounter_id=e.encounter_id, bundle=bundle)

    async def ack(self, key: str, actor: str) -> AckResult:
        result = await self.store.write(outbox.ack(key, now_ms(), actor))
        self.changed()
        return AckResult(result=result)

    async def fail(self, key: str, error: str, status: int | None) -> None:
        await self.store.write(outbox.failed(key, now_ms(), error, status))

    async def dead(self, key: str, error: str, status: int | None, actor: str) -> OutboxEntry:
        entry: OutboxEntry = await self.store.write(outbox.dead(key, now_ms(), error, status, actor))
        self.changed()
        return entry

    def dead_letters(self) -> list[OutboxEntry]:
        return outbox.dead_letters(self.store.reader.db)

    async def requeue(self, key: str, actor: str) -> OutboxEntry:
        entry: OutboxEntry = await self.store.write(outbox.requeue(key, now_ms(), actor))
        self.changed()
        return entry

    # -- offline bundles -------------------------------------------------------------------------------
    def bundle_key(self) -> Ed25519PrivateKey:
        """The vehicle's offline-bundle signing key (made on first use, beside the database)."""
        if self._bundle_key is None:
            self._bundle_key = signing_key(self.config.db_path.parent)
        return self._bundle_key

    async def sign(self, records: list[ManifestRecord], actor: str) -> Signed:
        """Sign an offline bundle's manifest with the vehicle's key; audited."""
        if not self.config.vehicle_id:
            raise Conflict("appliance.vehicle_id is not set: a bundle must name its vehicle")
        key = await self.store.read(self.bundle_key)
        manifest = {"type": BUNDLE_TYPE, "vehicle": self.config.vehicle_id,
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "signing_key": key_fingerprint(key.public_key()),
                    "records": [msgspec.to_builtins(r) for r in records]}
        text, sig = sign_manifest(key, manifest)
        await self.store.write(lambda db: append_audit(db, now_ms(), actor, "upstream.export", None,
                                                       {"records": len(records)}))
        return Signed(manifest=text.decode(), signature=sig, public_key=public_pem(key.public_key()),
                      fingerprint=key_fingerprint(key.public_key()))
