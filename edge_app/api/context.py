"""What request handlers reach: the store, the live hub, the devices. One instance per daemon."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from edge_app.config import Config
from edge_app.daemon.hub import Hub
from edge_app.store.queries import Reader
from edge_app.store.writer import Writer

if TYPE_CHECKING:
    import sqlite_utils

    from edge_app.daemon.devices import DeviceSupervisor

T = TypeVar("T")
_LOGGER = logging.getLogger(__name__)


class AppContext:
    """A plain class on purpose: Litestar would try to parse a dataclass dependency as data."""

    def __init__(self, config: Config, writer: Writer, reader: Reader, hub: Hub) -> None:
        self.config = config
        self.writer = writer
        self.reader = reader
        self.hub = hub
        self.devices: dict[str, DeviceSupervisor] = {}
        self.started_ms = time.time_ns() // 1_000_000
        self._news2_last: dict[str, Any] = {}
        from edge_app.auth.tokens import TokenRegistry

        self.tokens = TokenRegistry()
        self.tablet_url: str | None = None  # https://HOST:PORT when the tablet listener is on
        self.tls_fingerprint: str | None = None
        # Forwarding: woken when the outbox or the gate changes (the uplink long-polls on it).
        self.upstream_event = asyncio.Event()  # replaced at each wake: see upstream_wake
        self.uplink_seen_ms: int | None = None
        self.trust_keys: list[Any] = []  # Ed25519 public keys from upstream.trust_keys
        self.trust_key_errors: list[str] = []
        self._load_trust_keys()

    def _load_trust_keys(self) -> None:
        up = self.config.upstream
        if up is None:
            return
        from edge_app.upstream.approval import ApprovalError, load_public_key

        for path in up.trust_keys:
            try:
                self.trust_keys.append(load_public_key(path))
            except ApprovalError as exc:
                self.trust_key_errors.append(str(exc))
                _LOGGER.error("%s (approvals signed by it will be refused)", exc)

    def bundle_key(self) -> Any:
        """The vehicle's offline-bundle signing key (made on first use, beside the database)."""
        from edge_app.upstream.offline import signing_key

        if getattr(self, "_bundle_key", None) is None:
            self._bundle_key = signing_key(self.config.db_path.parent)
        return self._bundle_key

    def upstream_wake(self) -> None:
        """The gate or the outbox changed: wake the long polls, and tell the screens (the status line)."""
        self.outbox_wake()
        self.hub.publish("upstream", {"changed_at": time.time_ns() // 1_000_000})

    def outbox_wake(self) -> None:
        """Wake every long poll that took upstream_event before this change. A fresh Event each time
        rather than set() and clear(): with two pollers (the uplink, a technician), one clearing the
        shared event could swallow the wake-up meant for the other, which then slept out its timeout."""
        event, self.upstream_event = self.upstream_event, asyncio.Event()
        event.set()

    def observations_stored(self) -> None:
        """New observations are committed: with upstream.live_observations the uplink's poll cuts them into
        an entry now, not at its next 5 s recheck. The screens hear nothing (the stream has the readings)."""
        up = self.config.upstream
        if up is not None and up.live_observations:
            self.outbox_wake()

    def gate(self) -> Any:
        """The gate's state now (call on a reader thread)."""
        from edge_app.store.outbox import last_gate_event
        from edge_app.upstream.approval import key_fingerprint
        from edge_app.upstream.gate import gate_state

        return gate_state(self.config.upstream, last_gate_event(self.reader.db), time.time_ns() // 1_000_000,
                          {key_fingerprint(k) for k in self.trust_keys})

    def upstream_status(self) -> dict[str, Any]:
        """Everything about forwarding in one document (call on a reader thread)."""
        from dataclasses import asdict

        from edge_app.store.outbox import counts

        up = self.config.upstream
        gate = asdict(self.gate())
        return {"configured": up is not None, "target": up.target if up else None, "url": up.url if up else None,
                "vehicle": self.config.vehicle_id, **gate,
                "require_approval": bool(up and up.require_approval),
                "live_observations": bool(up and up.live_observations),
                **counts(self.reader.db), "uplink_seen_at": self.uplink_seen_ms}

    def outbox_bundle(self, entry: dict[str, Any]) -> dict[str, Any]:
        """An outbox entry's payload, built from the record as it is now (call on a reader thread)."""
        from edge_app.api.handover import fhir_bundle

        up = self.config.upstream
        panels = not (up and up.live_observations)
        now = time.time_ns() // 1_000_000
        if entry["kind"] == "encounter":
            return fhir_bundle(self.reader, entry["encounter_id"], now, panels=panels)
        first, last = entry["first_obs"], entry["last_obs"]
        rows = [o for o in self.reader.observations(encounter_id=entry["encounter_id"], after=first - 1,
                                                    limit=last - first + 1) if o["id"] <= last]
        return fhir_bundle(self.reader, entry["encounter_id"], now, panels=False, observations=rows)

    async def write(self, op: Callable[[sqlite_utils.Database], T]) -> T:
        """Run a write op through the writer; returns once it is committed."""
        return await asyncio.wrap_future(self.writer.submit(op))

    async def read(self, fn: Callable[[], T]) -> T:
        """Run a query on a worker thread (its own read connection), off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    def audit(self, actor: str, action: str, obj: str | None, detail: dict[str, Any] | None = None) -> None:
        """Record a read of patient data; it goes in with the next commit (at the latest Writer's LATER_S
        from now) and never delays the answer. One that cannot be stored is logged, never dropped silently."""
        from edge_app.store.records import audit_op

        self.writer.submit_later(audit_op(time.time_ns() // 1_000_000, actor, action, obj, detail), "audit row")

    async def publish_news2(self, encounter_id: str | None = None) -> None:
        """Recompute NEWS2 (of the active encounter by default) and push it on the stream if it changed."""
        from edge_app.api.observations import age_years, news2_of

        def compute() -> tuple[str, dict[str, Any]] | None:
            eid = encounter_id or self.reader.active_encounter_id()
            if eid is None:
                return None
            enc = self.reader.encounter(eid)
            result = news2_of(self.reader.latest_values(eid), enc["spo2_scale"],
                              age_years(enc["patient"], time.time_ns() // 1_000_000))
            import msgspec

            return eid, msgspec.to_builtins(result)

        got = await self.read(compute)
        if got is None:
            return
        eid, doc = got
        key = {k: v for k, v in doc.items() if k != "inputs"}
        if self._news2_last.get(eid) != key:
            self._news2_last[eid] = key
            self.hub.publish("news2", {"encounter_id": eid, **doc})

    def device_list(self) -> list[dict[str, Any]]:
        return [d.describe() for d in self.devices.values()]
