"""`edge-app uplink`: drain the daemon's outbox to the target, exactly once, whatever the link does.

Each entry: fetch its payload (the daemon refuses while the gate is closed), send it, then tell the
daemon the outcome. The daemon removes an entry only on "ok"; anything that happens in between (the
uplink killed, the answer lost, the daemon restarted) means the entry is sent again, and the target
stores it once because every resource has a deterministic id (FHIR PUT) or the message carries its key
(MQTT). Up to upstream.in_flight entries travel at once; a failed one waits with exponential backoff and
jitter (so a fleet coming back online does not hammer the server in step); a refusal (4xx) becomes a
dead letter with the server's reason; a wrong TLS identity suspends forwarding and says so.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import time
from typing import Any

from edge_app.config import Config
from edge_app.errors import ApiClientError, ConfigError
from edge_app.model.upstream import OutboxEntry
from edge_app.uplink.daemon_client import DaemonClient, DaemonUnavailable, GateClosed, Gone
from edge_app.uplink.targets.base import Record, Result, Target

_LOGGER = logging.getLogger("edge_app.uplink")
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 60.0
IDLE_WAIT_S = 25.0
CONTROL_MAX_BYTES = 16 * 1024
CONTROL_TRIES = 30  # a second apart: the daemon may be restarting when an order arrives


def backoff_s(attempt: int, rng: random.Random) -> float:
    """Full-ish jitter: between half and all of min(cap, base * 2^(attempt-1))."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempt - 1))
    return ceiling * (0.5 + 0.5 * rng.random())


class Uplink:
    def __init__(self, cfg: Config, target: Target, daemon: DaemonClient, *, once: bool = False,
                 rng: random.Random | None = None) -> None:
        if cfg.upstream is None:
            raise ConfigError(f"{cfg.source or '<defaults>'}: no [upstream] table: the uplink has nothing to do")
        self.cfg, self.up, self.target, self.daemon, self.once = cfg, cfg.upstream, target, daemon, once
        self.rng = rng or random.Random()
        self.inflight: dict[str, asyncio.Task[None]] = {}
        self.attempts: dict[str, int] = {}
        self.not_before: dict[str, float] = {}
        self.stop = asyncio.Event()
        self.sent = self.refused = self.retried = 0
        self._gate_why: str | None = None
        self.suspended_by_us = False
        self.control_tasks: set[asyncio.Task[None]] = set()
        if hasattr(target, "on_control"):
            target.on_control = self.control_message

    async def run(self) -> int:
        """Until stopped (or, with once, until nothing is waiting). Exit code for once: 0 all sent, 1 gate
        closed, 3 some refused."""
        daemon_down_since: float | None = None
        after = 0  # paging: past a full page of entries that all wait for a retry (no head-of-line blocking)
        limit = max(50, self.up.in_flight * 4)
        while not self.stop.is_set():
            idle = not self.inflight and not self.not_before
            try:
                batch = await self.daemon.pending(limit=limit, wait=0 if (self.once or not idle or after)
                                                  else IDLE_WAIT_S, after=after)
            except DaemonUnavailable as exc:
                if daemon_down_since is None:
                    daemon_down_since = time.monotonic()
                    _LOGGER.warning("%s; retrying", exc)
                await self._sleep(1.0)
                continue
            if daemon_down_since is not None:
                _LOGGER.info("daemon reachable again")
                daemon_down_since = None
            self._note_gate(batch.open, batch.why)
            if not batch.open:
                if self.once:
                    await self._drain_inflight()
                    return 1
                await self._sleep(1.0)  # the long poll itself waited for the gate; this only stops a spin
                continue
            now = time.monotonic()
            waiting = [e for e in batch.entries if e.key not in self.inflight]
            if after == 0 and len(batch.entries) < limit:
                live_keys = {e.key for e in batch.entries}
                for key in list(self.not_before):
                    if key not in live_keys and key not in self.inflight:
                        self.not_before.pop(key, None)  # gone from the outbox (dropped or superseded)
            started = 0
            for e in waiting:
                if len(self.inflight) >= self.up.in_flight:
                    break
                if self.not_before.get(e.key, 0.0) > now:
                    continue
                self.inflight[e.key] = asyncio.create_task(self._one(e), name=f"send-{e.key}")
                started += 1
            if not started and len(batch.entries) == limit and len(self.inflight) < self.up.in_flight:
                after = batch.entries[-1].seq  # this page is all waiting or in flight: look further
                continue
            paged, after = after, 0
            if self.once and not batch.entries and not self.inflight and not paged:
                return 3 if self.refused else 0
            await self._wait_for_progress()
        await self._drain_inflight()
        return 0

    async def _wait_for_progress(self) -> None:
        """Until a send finishes, a backoff ends, or (idle) straight back to the long poll."""
        if not self.inflight and not self.not_before:
            return
        now = time.monotonic()
        pending_retry = [t - now for k, t in self.not_before.items() if k not in self.inflight]
        timeout = max(0.01, min(pending_retry)) if pending_retry else None
        if self.inflight and len(self.inflight) >= self.up.in_flight:
            timeout = None  # the window is full: only a finished send frees a slot
        elif self.inflight:
            timeout = min(timeout or 1.0, 1.0)  # room in the window: look for new work now and then
        if self.inflight:
            await asyncio.wait(list(self.inflight.values()), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        else:
            await self._sleep(min(timeout or 1.0, 5.0))

    async def _one(self, entry: OutboxEntry) -> None:
        key = entry.key
        try:
            try:
                doc = await self.daemon.payload(key)
            except (Gone, GateClosed):
                self.not_before.pop(key, None)
                return
            result = await self.target.send(Record(key=key, kind=doc.kind, encounter_id=doc.encounter_id,
                                                   body=doc.bundle))
            await self._report(key, result)
        except DaemonUnavailable as exc:
            # Sent or not, the entry stays in the outbox and goes again later; the target stores it once.
            _LOGGER.warning("%s: %s", key, exc)
            self._backoff(key)
        except ApiClientError as exc:
            _LOGGER.error("%s: the daemon refused: %s", key, exc)
            self._backoff(key)
        except Exception:  # a bug must not stop the other records
            _LOGGER.exception("%s: unexpected error", key)
            self._backoff(key)
        finally:
            self.inflight.pop(key, None)

    async def _report(self, key: str, r: Result) -> None:
        if r.outcome == "ok":
            try:
                await self.daemon.ack(key)
            except Gone:
                pass  # replaced by a newer entry (handed over, then closed) while on its way: that one goes next
            self.attempts.pop(key, None)
            self.not_before.pop(key, None)
            self.sent += 1
            _LOGGER.debug("%s: confirmed by the target", key)
        elif r.outcome == "retry":
            self.retried += 1
            delay = self._backoff(key)
            _LOGGER.warning("%s: not confirmed (%s); again in %.1f s", key, r.detail, delay)
            await self.daemon.fail(key, r.detail, r.status)
        elif r.outcome == "reject":
            self.refused += 1
            self.not_before.pop(key, None)
            _LOGGER.error("%s: REFUSED by the target (HTTP %s): %s; kept as a dead letter", key, r.status, r.detail)
            await self.daemon.dead(key, r.detail, r.status)
        else:  # identity
            self._backoff(key)
            if not self.suspended_by_us:
                self.suspended_by_us = True
                _LOGGER.critical("the target's TLS identity does not match the pinned one: %s; SUSPENDING "
                                 "forwarding", r.detail)
                await self.daemon.suspend(f"uplink: the target's TLS identity does not match upstream.pin_sha256 "
                                          f"({r.detail})")

    # -- the fleet's signed orders, as they arrive on the target's control channel

    def control_message(self, topic: str, payload: bytes) -> None:
        """Pass an order on to the daemon, which checks its signature; nothing here trusts it."""
        if not payload:
            return  # an empty retained message: the fleet cleared the topic
        if len(payload) > CONTROL_MAX_BYTES:
            _LOGGER.error("control message on %s ignored: %d bytes, not an order", topic, len(payload))
            return
        try:
            doc = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            _LOGGER.error("control message on %s ignored: not JSON", topic)
            return
        if len(self.control_tasks) >= 8:
            _LOGGER.error("control message on %s ignored: %d others are still being passed on", topic,
                          len(self.control_tasks))
            return
        task = asyncio.create_task(self._pass_order(topic, doc), name=f"order-{topic}")
        self.control_tasks.add(task)
        task.add_done_callback(self.control_tasks.discard)

    async def _pass_order(self, topic: str, doc: Any) -> None:
        for _ in range(CONTROL_TRIES):
            try:
                got = await self.daemon.order(doc)
            except DaemonUnavailable as exc:
                _LOGGER.warning("order on %s: %s; trying again", topic, exc)
                await self._sleep(1.0)
                if self.stop.is_set():
                    return
                continue
            except ApiClientError as exc:
                _LOGGER.error("order on %s REFUSED by the daemon: %s", topic, exc)
                return
            if got.result == "applied":
                _LOGGER.critical("forwarding SUSPENDED by the fleet's signed order on %s: %s", topic,
                                 got.status.reason)
            else:
                _LOGGER.info("order on %s was applied before; nothing to do", topic)
            return
        _LOGGER.error("order on %s could not be passed on: the daemon did not answer", topic)

    def _backoff(self, key: str) -> float:
        n = self.attempts[key] = self.attempts.get(key, 0) + 1
        delay = backoff_s(n, self.rng)
        self.not_before[key] = time.monotonic() + delay
        return delay

    def _note_gate(self, is_open: bool, why: str) -> None:
        state = why if not is_open else None
        if state != self._gate_why:
            if is_open:
                _LOGGER.info("forwarding: %s", why)
                self.suspended_by_us = False
            else:
                _LOGGER.warning("not forwarding: %s", why)
            self._gate_why = state

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _drain_inflight(self) -> None:
        if self.inflight:
            await asyncio.wait(list(self.inflight.values()), timeout=self.up.timeout_s + 5)


async def run_uplink(cfg: Config, *, once: bool = False) -> int:
    # lazy: the configured target's library only (paho-mqtt or the FHIR client)
    from edge_app.uplink.targets import make_target

    target = make_target(cfg)
    daemon = DaemonClient(cfg.socket_path)
    uplink = Uplink(cfg, target, daemon, once=once)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None

    def on_signal() -> None:
        # At once, even mid long-poll or mid-send: whatever was not confirmed stays in the outbox.
        if not uplink.stop.is_set():
            uplink.stop.set()
            main.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    assert cfg.upstream is not None
    _LOGGER.info("uplink for vehicle %s to %s %s (%d in flight)", cfg.vehicle_id, cfg.upstream.target,
                 cfg.upstream.url, cfg.upstream.in_flight)
    await target.start()
    try:
        return await uplink.run()
    except asyncio.CancelledError:
        for task in uplink.inflight.values():
            task.cancel()
        return 0
    finally:
        for task in list(uplink.control_tasks):
            task.cancel()
        await target.close()
        await daemon.close()
        _LOGGER.info("uplink stopped: %d sent, %d retried, %d refused", uplink.sent, uplink.retried, uplink.refused)


def uplink_main(cfg: Config, *, once: bool = False) -> int:
    if cfg.upstream is None:
        raise ConfigError(f"{cfg.source or '<defaults>'}: no [upstream] table: the uplink has nothing to do")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per API call would drown the journal
    return asyncio.run(run_uplink(cfg, once=once))
