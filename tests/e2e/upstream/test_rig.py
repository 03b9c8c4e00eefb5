"""The upstream test rig works: the FHIR engine behaves like a strict FHIR R4 server, the faulty links fail
as told (and only as told), and mosquitto + relay + collector deliver through restarts."""
from __future__ import annotations

import hashlib
import json
import socket
import ssl
import time
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest

from tests.e2e.harness import wait_for
from tests.e2e.upstream.flaky import FAULT_KINDS, FlakyHttpProxy
from tests.e2e.upstream.servers import FhirEngine, observation_bundle, raw_ingest_rate

FHIR_JSON = {"content-type": "application/fhir+json"}


def post_bundle(client: httpx.Client, bundle: dict[str, Any]) -> httpx.Response:
    return client.post("", content=json.dumps(bundle), headers=FHIR_JSON)


def statuses(response: httpx.Response) -> list[str]:
    return [e["response"]["status"] for e in response.json()["entry"]]


def observation(oid: str | None = None, **over: Any) -> dict[str, Any]:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "heart rate"},
           "identifier": [{"system": "urn:rig", "value": oid or "x"}]}
    if oid:
        obs["id"] = oid
    return {**obs, **over}


# ------------------------------------------------------------------------------------------------ engine


def test_transaction_puts_answer_201_then_200_and_resending_changes_nothing(fhir_engine: FhirEngine) -> None:
    bundle = observation_bundle(60, prefix="enc1")  # > Medplum's 50-update transaction limit
    with fhir_engine.client() as c:
        first = post_bundle(c, bundle)
        assert first.status_code == 200, first.text
        assert first.json()["type"] == "transaction-response"
        assert statuses(first) == ["201 Created"] * 61
        counts = fhir_engine.counts()
        assert counts == {"Patient": 1, "Observation": 60}

        again = post_bundle(c, bundle)
        assert again.status_code == 200, again.text
        assert statuses(again) == ["200 OK"] * 61
        assert fhir_engine.counts() == counts
        single = c.put("Observation/enc1-0", json=bundle["entry"][1]["resource"])
        assert single.status_code == 200 and single.headers["etag"].startswith('W/"')
        new = c.put("Observation/enc1-new", json={**bundle["entry"][1]["resource"], "id": "enc1-new"})
        assert new.status_code == 201 and "/Observation/enc1-new/_history/" in new.headers["location"]
    writes = fhir_engine.writes()
    assert writes["transactions"] == 2 and writes["write_requests"] == 4 and writes["entries"] == 2 * 61 + 2


def test_conditional_create_in_large_transaction(fhir_engine: FhirEngine) -> None:
    bundle = observation_bundle(40, prefix="cond", method="POST")  # > Medplum's 8-entry conditional limit
    with fhir_engine.client() as c:
        first = post_bundle(c, bundle)
        assert first.status_code == 200, first.text
        assert statuses(first) == ["201 Created"] * 41
        ids = sorted(e["response"]["location"] for e in first.json()["entry"][1:])
        again = post_bundle(c, bundle)
        assert statuses(again) == ["200 OK"] * 41
        assert sorted(e["response"]["location"] for e in again.json()["entry"][1:]) == ids
        # plain conditional create too
        obs = observation(None, identifier=[{"system": "urn:rig", "value": "solo"}])
        a = c.post("Observation", json=obs, headers={"If-None-Exist": "identifier=urn:rig|solo"})
        b = c.post("Observation", json=obs, headers={"If-None-Exist": "identifier=urn:rig|solo"})
        assert (a.status_code, b.status_code) == (201, 200) and a.json()["id"] == b.json()["id"]
    assert fhir_engine.counts()["Observation"] == 41
    assert len(fhir_engine.search("Observation", identifier="urn:edge-app:test|cond-7")) == 1


@pytest.mark.parametrize("bad", [
    {"status": "not-a-status"},                 # required binding (Medplum's validator does not check it)
    {"valueQuantity": {"value": "seventy"}},    # wrong JSON type
    {"effectiveDateTime": "yesterday"},         # bad dateTime
    {"colour": "red"},                          # unknown element
    {"id": "has space"},                        # bad id
], ids=["code", "type", "datetime", "element", "id"])
def test_invalid_resource_is_rejected_with_400_operation_outcome(fhir_engine: FhirEngine, bad: dict) -> None:
    obs = {**observation(), **bad}
    with fhir_engine.client() as c:
        r = c.post("Observation", json=obs)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["severity"] == "error"
    assert fhir_engine.counts() == {}


def test_batch_is_not_atomic(fhir_engine: FhirEngine) -> None:
    bundle = observation_bundle(3, prefix="bat")
    bundle["type"] = "batch"
    bundle["entry"][2]["resource"]["status"] = "bogus"
    with fhir_engine.client() as c:
        r = post_bundle(c, bundle)
    assert r.status_code == 200 and r.json()["type"] == "batch-response"
    assert statuses(r) == ["201 Created", "201 Created", "400 Bad Request", "201 Created"]
    assert r.json()["entry"][2]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert fhir_engine.counts() == {"Patient": 1, "Observation": 2}


def test_transaction_with_one_bad_entry_rolls_back_everything(fhir_engine: FhirEngine) -> None:
    with fhir_engine.client() as c:
        assert post_bundle(c, observation_bundle(5, prefix="keep")).status_code == 200
        before = fhir_engine.counts()
        versions_before = fhir_engine.writes()["versions"]
        original = fhir_engine.read("Observation", "keep-1")
        assert original is not None

        bundle = observation_bundle(30, prefix="doomed")
        changed = {**original, "valueQuantity": {**original["valueQuantity"], "value": 999}}
        changed.pop("meta")
        bundle["entry"].append({"resource": changed,
                                "request": {"method": "PUT", "url": "Observation/keep-1"}})
        bundle["entry"][17]["resource"]["status"] = "bogus"
        r = post_bundle(c, bundle)
    assert r.status_code in (400, 422), r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[17]"]
    assert "Bundle.entry[17]" in outcome["issue"][0]["diagnostics"]
    assert fhir_engine.counts() == before
    assert fhir_engine.read("Observation", "keep-1") == original  # the update in the same bundle was undone
    assert fhir_engine.writes()["rollbacks"] == 1 and fhir_engine.writes()["versions"] == versions_before
    assert fhir_engine.search("Observation", identifier="urn:edge-app:test|doomed-0") == []


def test_duplicate_entry_in_transaction_is_rejected(fhir_engine: FhirEngine) -> None:
    bundle = observation_bundle(3, prefix="dup")
    bundle["entry"].append(bundle["entry"][1])
    with fhir_engine.client() as c:
        r = post_bundle(c, bundle)
    assert r.status_code == 400 and "duplicate" in r.text
    assert fhir_engine.counts() == {}


def test_unknown_search_parameter_answers_400(fhir_engine: FhirEngine) -> None:
    with fhir_engine.client() as c:
        assert c.get("Observation", params={"colour": "red"}).status_code == 400
        assert c.get("Observation", params={"identifier": "urn:x|1"}).status_code == 200
        r = c.post("Observation", json=observation(), headers={"If-None-Exist": "colour=red"})
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
        bundle = observation_bundle(2, prefix="u", method="POST")
        bundle["entry"][1]["request"]["ifNoneExist"] = "colour=red"
        assert post_bundle(c, bundle).status_code == 400
    assert fhir_engine.counts() == {}


def test_search_pages_through_everything(fhir_engine: FhirEngine) -> None:
    with fhir_engine.client() as c:
        assert post_bundle(c, observation_bundle(250, prefix="pg")).status_code == 200
        page = c.get("Observation", params={"subject": "Patient/pg-pt"}).json()
    assert len(page["entry"]) == 100 and page["total"] == 250
    assert any(lk["relation"] == "next" for lk in page["link"])
    found = fhir_engine.search("Observation", subject="Patient/pg-pt", _count=40)
    assert len({o["id"] for o in found}) == 250


def test_tls_engine_serves_the_pinned_certificate(fhir_engine_tls: FhirEngine, upstream_cert: Any) -> None:
    assert fhir_engine_tls.url.startswith("https://127.0.0.1:") and fhir_engine_tls.url.endswith("/fhir/R4")
    with fhir_engine_tls.client() as c:
        assert c.put("Observation/tls-1", json=observation("tls-1")).status_code == 201
    assert fhir_engine_tls.counts() == {"Observation": 1}
    with socket.create_connection((fhir_engine_tls.host, fhir_engine_tls.port), 5) as raw:
        with upstream_cert.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
    assert hashlib.sha256(der).hexdigest() == upstream_cert.sha256
    with pytest.raises(httpx.ConnectError):  # not trusted without the certificate
        httpx.get(fhir_engine_tls.url + "/metadata", verify=ssl.create_default_context())
    with FlakyHttpProxy(fhir_engine_tls.url) as link:  # plain to the client, TLS to the engine
        assert httpx.put(f"{link.url}/Observation/tls-2", json=observation("tls-2")).status_code == 201
    assert fhir_engine_tls.counts() == {"Observation": 2}


def test_engine_figures(fhir_engine: FhirEngine, capsys: pytest.CaptureFixture[str]) -> None:
    """Spawn time, raw ingest rate and memory (printed; the floor only catches pathologies)."""
    rate = raw_ingest_rate(fhir_engine, [observation_bundle(3600)])
    rss = fhir_engine.rss()
    with capsys.disabled():
        print(f"\nFHIR engine: spawn {fhir_engine.spawn_seconds:.2f} s, raw ingest {rate:.0f} entries/s "
              f"(one 3,600-Observation transaction), RSS {rss / 2**20:.0f} MiB")
    assert fhir_engine.counts()["Observation"] == 3600
    assert rate > 300


# ------------------------------------------------------------------------------------------------ HTTP link


def _drive(link: FlakyHttpProxy, n: int, prefix: str) -> list[str]:
    """n PUTs through the link, each on a fresh connection; what the client saw."""
    seen = []
    for i in range(n):
        with httpx.Client(base_url=link.url, timeout=0.3) as c:
            try:
                r = c.put(f"Observation/{prefix}-{i}", json=observation(f"{prefix}-{i}"))
                seen.append(str(r.status_code))
            except httpx.TimeoutException:
                seen.append("timeout")
            except httpx.TransportError:
                seen.append("broken")
    return seen


def test_flaky_http_produces_every_fault_kind_with_a_seed(fhir_engine: FhirEngine, flaky_http: Any) -> None:
    link = flaky_http(seed=42, p_503=0.15, p_timeout=0.1, p_reset=0.15, p_lost=0.15)
    assert link.url == f"http://127.0.0.1:{link.port}/fhir/R4"
    seen = _drive(link, 40, "f")
    kinds = [k for k, _, _ in link.log]
    assert set(kinds) == set(FAULT_KINDS), link.stats
    assert link.requests == 40 == sum(link.stats.values())
    expected = {"503": "503", "timeout": "timeout", "reset": "broken", "lost": "broken", "ok": "201"}
    assert seen == [expected[k] for k in kinds]
    # what reached the engine: exactly the "ok" and "lost" requests, and those were stored
    assert link.forwarded == link.stats["ok"] + link.stats["lost"] == fhir_engine.writes()["write_requests"]
    stored = {o["id"] for o in fhir_engine.search("Observation")}
    assert stored == {f"f-{i}" for i, k in enumerate(kinds) if k in ("ok", "lost")}

    # the same seed gives the same sequence
    again = flaky_http(seed=42, p_503=0.15, p_timeout=0.1, p_reset=0.15, p_lost=0.15)
    assert [again._choose() for _ in range(40)] == kinds


def test_flaky_http_healed_forwards_everything_keepalive_and_chunked(fhir_engine: FhirEngine,
                                                                     flaky_http: Any) -> None:
    link = flaky_http(seed=1, p_503=0.5, p_reset=0.5)
    link.heal()
    with httpx.Client(base_url=link.url, timeout=5) as c:
        for i in range(20):
            assert c.put(f"Observation/h-{i}", json=observation(f"h-{i}")).status_code == 201
        body = json.dumps(observation_bundle(10, prefix="chunk")).encode()
        r = c.post("", content=iter([body[:100], body[100:]]), headers=FHIR_JSON)  # chunked upload
        assert r.status_code == 200 and statuses(r) == ["201 Created"] * 11
        page = c.get("Observation", params={"_count": 5})
        nxt = next(lk["url"] for lk in page.json()["link"] if lk["relation"] == "next")
        assert nxt.startswith(link.url)  # links point through the proxy
        assert c.get(nxt).status_code == 200
    assert link.connections == 1  # keep-alive held
    assert link.stats == {"ok": 23} and link.requests == 23 == link.forwarded
    assert fhir_engine.counts() == {"Observation": 30, "Patient": 1}


def test_flaky_http_plan_and_suspension_counting(fhir_engine: FhirEngine, flaky_http: Any) -> None:
    link = flaky_http(seed=5)
    link.plan(["lost", "reset", "503"])
    assert _drive(link, 4, "p") == ["broken", "broken", "503", "201"]
    assert [k for k, _, _ in link.log] == ["lost", "reset", "503", "ok"]
    assert fhir_engine.counts() == {"Observation": 2}  # p-0 (answer lost) and p-3
    before = link.requests
    time.sleep(0.2)  # nobody sends: the counter stands still
    assert link.requests == before


# ------------------------------------------------------------------------------------------------ MQTT


def _publisher(port: int, client_id: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                    protocol=mqtt.MQTTv311)
    c.reconnect_delay_set(min_delay=0.1, max_delay=0.5)  # type: ignore[arg-type]  # floats work
    c.connect("127.0.0.1", port, keepalive=5)
    c.loop_start()
    return c


def test_mqtt_qos1_through_the_cutting_relay(mqtt_broker: Any, flaky_tcp: Any, mqtt_collector: Any) -> None:
    sink = mqtt_collector("edge/#")
    link = flaky_tcp(seed=3)
    pub = _publisher(link.port, "pub-relay")
    try:
        pub.publish("edge/enc/1", b"one", qos=1).wait_for_publish(5)
        sink.wait_for(1, 5)
        assert link.bytes_up > 0 and link.forwarded == 1

        assert link.cut_all() == 1  # RST both ways
        # Published while paho is (re)connecting: rc is MQTT_ERR_NO_CONN and wait_for_publish()/is_published()
        # raise, yet paho keeps the QoS 1 message queued and sends it after the reconnect.
        pub.publish("edge/enc/1", b"two", qos=1)
        got = sink.wait_for(2, 10)
        assert (("edge/enc/1", b"one") in got) and (("edge/enc/1", b"two") in got)
        assert link.cuts == 1 and link.forwarded >= 2

        link.set_cuts((0.05, 0.15))  # from now on every connection dies within 150 ms
        t0 = time.monotonic()
        wait_for(lambda: link.cuts >= 3, 10, "random cuts")
        assert time.monotonic() - t0 < 10
        link.heal()
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_tcp_relay_block_means_no_connection_reaches_the_broker(mqtt_broker: Any, flaky_tcp: Any) -> None:
    link = flaky_tcp()
    link.block()
    for _ in range(3):
        with pytest.raises(OSError):
            s = socket.create_connection(("127.0.0.1", link.port), 2)
            s.settimeout(2)
            s.sendall(b"\x10\x00")
            if not s.recv(1):
                raise ConnectionResetError("closed")
    assert link.forwarded == 0 and link.refused == 3
    link.block("refuse")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", link.port), 2)
    link.heal()
    socket.create_connection(("127.0.0.1", link.port), 2).close()
    wait_for(lambda: link.forwarded == 1, 5, "a forwarded connection")


def test_tcp_relay_stall_holds_bytes_without_closing(mqtt_broker: Any, flaky_tcp: Any,
                                                     mqtt_collector: Any) -> None:
    sink = mqtt_collector("edge/#")
    link = flaky_tcp()
    pub = _publisher(link.port, "pub-stall")
    try:
        pub.publish("edge/s", b"1", qos=1)
        sink.wait_for(1, 5)
        link.stall()
        up = link.bytes_up
        info = pub.publish("edge/s", b"2", qos=1)
        time.sleep(0.3)
        assert not info.is_published() and link.bytes_up == up and len(sink.messages) == 1
        link.heal()
        sink.wait_for(2, 5)
        wait_for(info.is_published, 5, "PUBACK after the stall")
        assert link.cuts == 0 and link.forwarded == 1  # same connection all along
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_mqtt_collector_survives_a_broker_restart(mqtt_broker: Any, mqtt_collector: Any) -> None:
    sink = mqtt_collector("edge/#", client_id="sink-restart")
    pub = _publisher(mqtt_broker.port, "pub-restart")
    try:
        pub.publish("edge/a", b"before", qos=1).wait_for_publish(5)
        sink.wait_for(1, 5)
        mqtt_broker.restart()  # SIGTERM: the session and the subscription are saved
        pub.publish("edge/a", b"after", qos=1)  # maybe while paho reconnects: queued (see above)
        got = sink.wait_for(2, 15)
        assert ("edge/a", b"after") in got and sink.connects >= 2
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_mqtt_tls_listener(mqtt_broker_tls: Any, mqtt_collector: Any, upstream_cert: Any) -> None:
    sink = mqtt_collector("edge/#", broker=mqtt_broker_tls, tls=True)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pub-tls", protocol=mqtt.MQTTv311)
    c.tls_set_context(upstream_cert.ssl_context())
    c.connect("127.0.0.1", mqtt_broker_tls.tls_port, keepalive=5)
    c.loop_start()
    try:
        c.publish("edge/tls", b"secret", qos=1).wait_for_publish(5)
        assert sink.wait_for(1, 5) == [("edge/tls", b"secret")]
    finally:
        c.loop_stop()
        c.disconnect()
