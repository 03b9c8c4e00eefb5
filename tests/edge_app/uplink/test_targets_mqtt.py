"""The MQTT target against a real mosquitto (tests/e2e/upstream/servers.py's Broker and MqttCollector): PUBACK
means ok, no link means a fast retry, a stalled link means retry and the late PUBACK still counts, broker
restarts lose nothing, TLS pinning/mTLS/refusals map to their outcomes."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_app.config import Config, UpstreamConfig
from edge_app.uplink.targets.base import Record, Result
from edge_app.uplink.targets.mqtt import MqttTarget
from tests.edge_app.uplink.test_tls_pin import Cert, make_ca, self_signed
from tests.e2e.upstream.flaky import FlakyTcpProxy
from tests.e2e.upstream.servers import Broker, MqttCollector

VEHICLE = "AMB-042"


def config(url: str, **kw: Any) -> Config:
    kw = {k: (str(v) if isinstance(v, Path) else v) for k, v in kw.items()}
    kw.setdefault("timeout_s", 2.0)
    return Config(db_path=Path("/nonexistent/edge.db"), socket_path=Path("/nonexistent/api.sock"),
                  upstream=UpstreamConfig(target="mqtt", url=url, **kw), vehicle_id=VEHICLE)


def records(n: int, prefix: str = "r") -> list[Record]:
    out = []
    for i in range(n):
        enc = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}-{i}"))
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": f"urn:uuid:{enc}", "resource": {"resourceType": "Encounter", "id": enc, "status": "finished"},
             "request": {"method": "PUT", "url": f"Encounter/{enc}"}}]}
        kind = "encounter" if i % 2 == 0 else "observations"
        out.append(Record(key=f"{prefix}-{i}", kind=kind, encounter_id=enc, body=bundle))
    return out


def keys_of(messages: list[tuple[str, bytes]]) -> list[str]:
    return [json.loads(payload)["key"] for _, payload in messages]


async def deliver(target: MqttTarget, recs: list[Record], timeout: float, window: int = 4,
                  pace: float = 0.0) -> list[Result]:
    """What the uplink loop does, in small: send (window at once, `pace` s apart), retry what was not ok
    (0.2 s later), until all are."""
    todo = list(recs)
    seen: list[Result] = []
    deadline = time.monotonic() + timeout
    while todo:
        assert time.monotonic() < deadline, f"{len(todo)} not delivered; last results {seen[-3:]}"
        batch, todo = todo[:window], todo[window:]
        results = await asyncio.gather(*(target.send(r) for r in batch))
        seen += results
        again = [r for r, res in zip(batch, results, strict=True) if res.outcome != "ok"]
        assert all(res.outcome == "retry" for res in results if res.outcome != "ok"), results
        if again:
            todo = again + todo
            await asyncio.sleep(0.2)
        elif pace:
            await asyncio.sleep(pace)
    return seen


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "mosquitto").start()
    yield b
    b.stop()


@pytest.fixture
def collector(broker: Broker) -> Iterator[MqttCollector]:
    with MqttCollector(broker, "edge-app/#") as c:
        yield c


# ------------------------------------------------------------------------------------------- tests


async def test_puback_is_ok_and_the_envelope(broker: Broker, collector: MqttCollector) -> None:
    target = MqttTarget(config(broker.url, in_flight=8))
    await target.start()
    try:
        recs = records(8)
        results = await asyncio.gather(*(target.send(r) for r in recs))
        assert [r.outcome for r in results] == ["ok"] * 8
        got = collector.wait_for(8, 5)
    finally:
        await target.close()
    by_key = {json.loads(p)["key"]: (topic, p) for topic, p in got}
    assert sorted(by_key) == sorted(r.key for r in recs)
    for r in recs:
        topic, payload = by_key[r.key]
        assert topic == f"edge-app/{VEHICLE}/{r.kind}/{r.encounter_id}"
        assert payload == json.dumps({"key": r.key, "vehicle": VEHICLE, "kind": r.kind, "encounter": r.encounter_id,
                                      "bundle": r.body}, separators=(",", ":")).encode()
    assert f"as edge-app-{VEHICLE} (p2, c0" in broker.log.read_text()  # client id, MQTT 3.1.1, clean_session=False


async def test_down_at_start_is_a_fast_retry_and_nothing_is_queued(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "mosquitto")  # configured, not running yet
    target = MqttTarget(config(broker.url, timeout_s=2.0))
    await target.start()  # does not raise on a down broker
    try:
        t = time.monotonic()
        early = await target.send(records(1, "early")[0])
        assert early.outcome == "retry" and "not connected to mqtt://127.0.0.1" in early.detail, early
        assert time.monotonic() - t < 1.0  # no waiting for a timeout: nothing was handed to paho
        broker.start()
        with MqttCollector(broker, "edge-app/#") as collector:
            await deliver(target, records(3), timeout=10)  # paho reconnected by itself
            got = keys_of(collector.wait_for(3, 5))
            await asyncio.sleep(0.2)
            assert sorted(keys_of(collector.messages)) == sorted(got) == ["r-0", "r-1", "r-2"]  # no "early-0"
    finally:
        await target.close()
        broker.stop()


async def test_through_a_flaky_link_with_a_broker_restart_every_key_arrives(
        broker: Broker, collector: MqttCollector) -> None:
    link = FlakyTcpProxy(broker.host, broker.port, seed=5, cut_after=(0.4, 1.2))
    target = MqttTarget(config(f"mqtt://127.0.0.1:{link.port}", timeout_s=1.0))
    await target.start()
    try:
        recs = records(30, "flaky")  # as records come in during a call: a few every 0.15 s
        results = await deliver(target, recs[:15], timeout=15, window=2, pace=0.15)
        broker.restart()  # SIGTERM mid-stream: the broker saves its db and comes back on the same port
        results += await deliver(target, recs[15:], timeout=15, window=2, pace=0.15)
        keys = keys_of(collector.wait_for(len(recs), 10))
        assert set(keys) == {r.key for r in recs}  # every key at least once; QoS 1 may duplicate
        assert link.cuts >= 1 and target.connects >= 2
        assert any(r.outcome == "retry" for r in results)
    finally:
        await target.close()
        link.close()


async def test_stalled_link_retry_then_the_late_puback_counts_without_a_second_copy(
        broker: Broker, collector: MqttCollector) -> None:
    proxy = FlakyTcpProxy(broker.host, broker.port)
    target = MqttTarget(config(f"mqtt://127.0.0.1:{proxy.port}", timeout_s=0.5))
    await target.start()
    try:
        warm, stuck = records(2, "stall")
        assert (await target.send(warm)).outcome == "ok"
        proxy.stall()  # a dead radio link: nothing closes, nothing gets through
        first = await target.send(stuck)
        assert first.outcome == "retry" and "no PUBACK within 0.5 s" in first.detail
        again = await target.send(stuck)  # still in paho: waits for the same message, does not publish twice
        assert again.outcome == "retry"
        proxy.unstall()
        collector.wait_for(2, 5)
        for _ in range(50):  # the PUBACK reaches the target through paho's thread
            if stuck.key not in target._pending:
                break
            await asyncio.sleep(0.02)
        assert await target.send(stuck) == Result("ok", "PUBACK (arrived after an earlier attempt gave up)")
        await asyncio.sleep(0.3)
        assert sorted(keys_of(collector.messages)) == ["stall-0", "stall-1"]  # exactly one copy each
    finally:
        await target.close()
        proxy.close()


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Broker, Cert, Any]]:
    cert = self_signed(tmp_path / "certs")
    ca = make_ca(tmp_path / "certs")
    b = Broker(tmp_path / "mosquitto", tls=(cert.cert, cert.key))
    yield b, cert, ca
    b.stop()


async def test_tls_pin_match_mismatch_and_ca_file(tls_broker: tuple[Broker, Cert, Any]) -> None:
    broker, cert, _ = tls_broker
    broker.start()
    url = f"mqtts://127.0.0.1:{broker.tls_port}"
    with MqttCollector(broker, "edge-app/#") as collector:
        wrong = "1e" * 32
        for kw, want in (({"pin_sha256": wrong}, "identity"), ({"pin_sha256": cert.sha256}, "ok"),
                         ({"ca_file": cert.cert}, "ok"), ({}, "retry")):
            target = MqttTarget(config(url, **kw))
            await target.start()
            try:
                result = await target.send(records(1, want + str(len(kw)))[0])
            finally:
                await target.close()
            assert result.outcome == want, (kw, result)
            if want == "identity":
                assert result.detail == f"the target's certificate SHA-256 is {cert.sha256}, pinned {wrong}"
            if kw == {}:
                assert "certificate verify failed" in result.detail
        assert len(collector.wait_for(2, 5)) == 2


async def test_mtls_required_by_the_broker(tls_broker: tuple[Broker, Cert, Any], tmp_path: Path) -> None:
    broker, cert, ca = tls_broker
    with open(broker.conf, "a") as conf:  # the TLS listener is the last one: these lines apply to it
        conf.write(f"cafile {ca.cert}\nrequire_certificate true\n")
    broker.start()
    client = ca.issue(tmp_path / "certs", "vehicle", client=True)
    url = f"mqtts://127.0.0.1:{broker.tls_port}"
    for kw, want in (({}, "retry"), ({"client_cert": client.cert, "client_key": client.key}, "ok")):
        target = MqttTarget(config(url, pin_sha256=cert.sha256, timeout_s=1.0, **kw))
        await target.start()
        try:
            result = await target.send(records(1)[0])
        finally:
            await target.close()
        assert result.outcome == want, result
        if want == "retry":
            assert "certificate required" in result.detail  # paho's own words, passed on


async def test_broker_refusing_the_client_is_retry_with_the_reason(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "mosquitto")
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    broker.start()
    target = MqttTarget(config(broker.url))
    await target.start()
    try:
        result = await target.send(records(1)[0])
        assert result.outcome == "retry" and "the broker refused the connection: Not authorized" in result.detail
    finally:
        await target.close()
        broker.stop()


async def test_a_record_that_cannot_be_a_topic_is_rejected(broker: Broker) -> None:
    target = MqttTarget(config(broker.url))
    await target.start()
    try:
        bad = Record(key="k", kind="encounter", encounter_id="a/#", body={})
        result = await target.send(bad)
        assert result.outcome == "reject" and "cannot be a topic level" in result.detail
    finally:
        await target.close()
