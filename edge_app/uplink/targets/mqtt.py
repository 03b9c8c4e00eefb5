"""The MQTT target: each record is one QoS 1 PUBLISH of a JSON envelope, confirmed by its PUBACK.

paho-mqtt 2.x (CallbackAPIVersion.VERSION2, MQTT 3.1.1) runs its network thread (``loop_start``) and
reconnects by itself every 1-5 s; its callbacks are handed to the asyncio loop with
``call_soon_threadsafe`` and all state here is touched only from that loop. client_id is
``edge-app-<vehicle_id>`` with clean_session=False, so the broker keeps the session across reconnects.

Topic ``<topic prefix, {vehicle} filled in>/<kind>/<encounter_id>``; payload the compact UTF-8 JSON
``{"key", "vehicle", "kind", "encounter", "bundle"}``; QoS 1, not retained.

Delivery is at-least-once, by design of MQTT QoS 1: "ok" means the broker sent PUBACK for that
message. When no PUBACK comes within timeout_s the answer is "retry", but paho keeps the message and
resends it after a reconnect, so the broker may still get it: a duplicate at most, never a loss.
Exactly-once STORAGE is the receiver's job: it keeps one message per ``key`` (the envelope's
idempotency key; the same key always carries the same bundle).

Keeping paho's queue bounded across retries (three rules, together):
1. Not connected: "retry" at once, nothing is handed to paho. A publish made while disconnected
   would sit in paho's memory until the link returns, and a loop that keeps retrying would pile up
   copies of the same record there.
2. A record whose earlier publish is still in paho (sent, PUBACK not yet seen) is not published again:
   the new send waits for that same message's PUBACK. If the PUBACK arrives after the sender gave up,
   the key is remembered and the next send of it is "ok" at once, without a second copy.
3. ``max_queued_messages_set`` caps paho's outgoing store as a backstop (a stalled but not yet
   detected link): beyond it publish() refuses and the answer is "retry".
So paho holds at most one copy of each record and at most ``queue_max`` messages in all.

Control: the target subscribes (QoS 1) to ``upstream.control_topics`` and hands each message on them to
``on_control`` (the uplink passes it to the daemon, which checks the fleet's signature; nothing here
trusts it). A retained order comes again at every reconnect; the daemon applies an order once.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from edge_app.config import Config, UpstreamConfig
from edge_app.uplink.targets.base import Record, Result, describe_exc, one_line
from edge_app.uplink.targets.tls import ClientTls, TlsSetupError, client_tls

_LOGGER = logging.getLogger(__name__)
KEEPALIVE_S = 30
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 5
_ACKED_MAX = 4096  # keys PUBACKed after their sender gave up, remembered for the next send


class MqttTarget:
    """Publishes records to an MQTT broker (module docstring)."""

    name = "mqtt"

    def __init__(self, cfg: Config) -> None:
        if cfg.upstream is None:
            raise ValueError("no [upstream] in the config")
        self.up: UpstreamConfig = cfg.upstream
        self.vehicle = cfg.vehicle_id
        parts = urlsplit(self.up.url)
        self.secure = parts.scheme == "mqtts"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (8883 if self.secure else 1883)
        self.prefix = self.up.topic.replace("{vehicle}", self.vehicle).rstrip("/")
        self.client_id = f"edge-app-{self.vehicle}"
        self.timeout = self.up.timeout_s
        self.queue_max = max(16, 4 * self.up.in_flight)
        self.tls: ClientTls | None = None
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._setup_error: str | None = None
        self._connected = False
        self._first_outcome: asyncio.Event | None = None
        self._down_reason = "not connected yet"
        self._refused: str | None = None
        self._paho_error: str | None = None  # paho's last error log line since the last good connect
        self._pending: dict[str, asyncio.Future[Result]] = {}  # key -> its PUBACK, while paho holds it
        self._mids: dict[int, str] = {}
        self._acked: OrderedDict[str, None] = OrderedDict()
        self.connects = 0  # successful CONNACKs (tests and status)
        self.control_topics = [c.replace("{vehicle}", self.vehicle) for c in self.up.control_topics]
        self.on_control: Callable[[str, bytes], None] | None = None  # (topic, payload), on the asyncio loop

    # -- lifecycle

    async def start(self) -> None:
        if self._client is not None or self._setup_error is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._first_outcome = asyncio.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False,
                             protocol=MQTTProtocolVersion.MQTTv311)
        try:
            if self.secure:
                self.tls = client_tls(self.up)
                client.tls_set_context(self.tls.context)
                if self.tls.pinned:
                    # paho would otherwise match the hostname itself; the pin replaces that (tls.py).
                    client.tls_insecure_set(True)
        except (OSError, ValueError) as exc:
            self._setup_error = one_line(f"upstream TLS settings unusable: {_setup_text(exc)}")
            _LOGGER.error("%s", self._setup_error)
            return
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(self.queue_max)
        client.max_inflight_messages_set(max(20, self.up.in_flight))
        client.connect_timeout = self.timeout
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_log = self._on_log
        client.connect_async(self.host, self.port, keepalive=KEEPALIVE_S)
        self._client = client
        client.loop_start()  # the thread connects, and reconnects, by itself

    async def close(self) -> None:
        client, self._client = self._client, None
        for fut in self._pending.values():
            if not fut.done():
                fut.set_result(Result("retry", "the uplink is stopping"))
        self._pending.clear()
        self._mids.clear()
        if client is None:
            return
        client.disconnect()
        try:
            await asyncio.wait_for(asyncio.to_thread(client.loop_stop), self.timeout + RECONNECT_MAX_S + 2)
        except TimeoutError:
            _LOGGER.warning("paho's network thread did not stop in time")

    # -- paho callbacks (paho's thread): hand over to the asyncio loop

    def _call(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure and self.control_topics:
            # Every connect: the broker may have lost the session. paho queues these behind the CONNACK.
            client.subscribe([(topic, 1) for topic in self.control_topics])
        self._call(self._connected_now, bool(reason.is_failure), str(reason))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic in self.control_topics:
            self._call(self._control, msg.topic, bytes(msg.payload))

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._call(self._down, "cannot connect (TCP or TLS)")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._call(self._down, f"disconnected ({reason})")

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._call(self._puback, mid, bool(reason.is_failure), str(reason))

    def _on_log(self, client: mqtt.Client, userdata: Any, level: int, message: str) -> None:
        # e.g. "failed to receive on socket: [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] ...": the only place
        # paho tells why a connection it had just made went away.
        if level == mqtt.MQTT_LOG_ERR:
            self._call(setattr, self, "_paho_error", message)

    # -- the same, in the asyncio loop

    def _connected_now(self, failed: bool, reason: str) -> None:
        if failed:
            self._connected = False
            self._refused = f"the broker refused the connection: {reason} (check its credentials/ACL for " \
                            f"client {self.client_id})"
            _LOGGER.warning("%s", self._refused)
        else:
            self._connected, self._refused, self._paho_error = True, None, None
            self.connects += 1
        if self._first_outcome is not None:
            self._first_outcome.set()

    def _control(self, topic: str, payload: bytes) -> None:
        if self.on_control is not None:
            self.on_control(topic, payload)

    def _down(self, reason: str) -> None:
        self._connected = False
        self._down_reason = reason
        if self._first_outcome is not None:
            self._first_outcome.set()

    def _puback(self, mid: int, failed: bool, reason: str) -> None:
        key = self._mids.pop(mid, None)
        if key is None:
            return
        fut = self._pending.pop(key, None)
        result = Result("retry", one_line(f"the broker answered {reason}")) if failed else Result("ok", "PUBACK")
        if not failed:
            self._acked[key] = None  # until its sender (or the next send of it) takes it
            while len(self._acked) > _ACKED_MAX:
                self._acked.popitem(last=False)
        if fut is not None and not fut.done():
            fut.set_result(result)

    # -- sending

    def topic_for(self, record: Record) -> str:
        for part in (record.kind, record.encounter_id):
            if not part or any(c in part for c in "/+#\x00"):
                raise ValueError(f"{part!r} cannot be a topic level")
        return f"{self.prefix}/{record.kind}/{record.encounter_id}"

    def payload_for(self, record: Record) -> bytes:
        envelope = {"key": record.key, "vehicle": self.vehicle, "kind": record.kind,
                    "encounter": record.encounter_id, "bundle": record.body}
        return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()

    def _not_connected(self) -> Result:
        if self.tls is not None and self.tls.watch.mismatch is not None:
            return Result("identity", one_line(str(self.tls.watch.mismatch)))
        where = f"{'mqtts' if self.secure else 'mqtt'}://{self.host}:{self.port}"
        why = self._refused or (self.tls.watch.last_error if self.tls else None) or self._down_reason
        if self._paho_error and not self._refused:
            why += f": {self._paho_error}"
        return Result("retry", one_line(f"not connected to {where}: {why}; paho reconnects every "
                                        f"{RECONNECT_MIN_S}-{RECONNECT_MAX_S} s"))

    async def send(self, record: Record) -> Result:
        if self._client is None and self._setup_error is None:
            await self.start()
        if self._setup_error is not None:
            return Result("retry", self._setup_error)
        client = self._client
        if client is None:
            return Result("retry", "the uplink is stopping")
        key = record.key
        if key in self._acked:
            del self._acked[key]
            return Result("ok", "PUBACK (arrived after an earlier attempt gave up)")
        if not self._connected and self.tls is not None and self.tls.watch.mismatch is not None:
            return self._not_connected()  # "identity": the broker's certificate is not the pinned one
        fut = self._pending.get(key)
        if fut is None:
            if not self._connected and self._first_outcome is not None and not self._first_outcome.is_set():
                try:  # just started: give the first connection attempt its chance
                    await asyncio.wait_for(self._first_outcome.wait(), self.timeout)
                except TimeoutError:
                    pass
            if not self._connected:
                return self._not_connected()
            try:
                topic, payload = self.topic_for(record), self.payload_for(record)
            except (ValueError, TypeError) as exc:
                return Result("reject", one_line(f"cannot publish this record: {exc}"))
            if key in self._pending or key in self._acked:  # another send of it got here first
                return await self.send(record)
            try:
                info = client.publish(topic, payload, qos=1, retain=False)
            except ValueError as exc:  # e.g. larger than MQTT's 256 MB limit
                return Result("reject", one_line(f"cannot publish this record: {exc}"))
            if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                return Result("retry", f"paho's outgoing queue is full ({self.queue_max} messages await PUBACK): "
                                       "the broker link is stalled")
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                return Result("retry", one_line(f"publish failed: {mqtt.error_string(info.rc)}"))
            # NO_CONN here: the link dropped just now; paho keeps the message and sends it on reconnect.
            fut = self._loop.create_future()  # type: ignore[union-attr]
            self._pending[key] = fut
            self._mids[info.mid] = key
        try:
            result = await asyncio.wait_for(asyncio.shield(fut), self.timeout)
        except TimeoutError:
            state = "connected" if self._connected else self._down_reason
            return Result("retry", one_line(
                f"no PUBACK within {self.timeout:g} s ({state}); paho keeps the message and may still deliver "
                "it (a duplicate at most: the receiver keeps one message per key)"))
        if result.outcome == "ok":
            self._acked.pop(key, None)
        return result


def _setup_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, TlsSetupError) else describe_exc(exc)
