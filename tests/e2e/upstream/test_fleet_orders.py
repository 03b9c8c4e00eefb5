"""JOURNEYS 3.1 over the air: the fleet publishes one signed suspend order, retained, on the MQTT control
topic; every uplink connected to the broker passes it to its daemon, which checks the signature and stops
forwarding. Junk and forgeries on the topic change nothing, and the retained order, delivered again at
every reconnect, never undoes the technician's later resume. A real mosquitto, daemon and uplink."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from paho.mqtt import publish

from edge_app.upstream.approval import generate_keypair, load_private_key
from edge_app.upstream.orders import sign_order
from tests.e2e.harness import Daemon, Proc, wait_for
from tests.e2e.upstream.servers import Broker, MqttCollector
from tests.e2e.upstream.test_exactly_once import VEHICLE, config, drained, make_encounters, upstream_status, uplink


def test_a_retained_fleet_order_suspends_and_a_later_resume_holds(root: Path, procs: list[Proc],
                                                                  mqtt_broker: Broker) -> None:
    generate_keypair(root / "authority")
    stranger = generate_keypair(root / "stranger")[0]
    sink = MqttCollector(mqtt_broker, f"edge-app/{VEHICLE}/encounter/#")
    sink.wait_subscribed()
    d = Daemon(config(root, f"mqtt://{mqtt_broker.host}:{mqtt_broker.port}", target="mqtt",
                      extra=f'trust_keys = ["{root / "authority.pub"}"]\n'), root)
    procs.append(d)
    d.wait_ready()
    up = uplink(root, procs)
    first = make_encounters(d, 1, rounds=1)
    wait_for(lambda: drained(d), 30, "the first record to go")

    def send(topic: str, payload: bytes | str, *, retain: bool = False) -> None:
        publish.single(topic, payload, qos=1, retain=retain, hostname=mqtt_broker.host, port=mqtt_broker.port)

    # Junk and a forgery first: logged and refused, the gate stays open.
    send(f"edge-app/{VEHICLE}/control", b"\xff not json")
    send(f"edge-app/{VEHICLE}/control", json.dumps(sign_order(load_private_key(stranger), ["*"], "spoofed", "?",
                                                              datetime.now(UTC))))
    wait_for(lambda: "not signed by a trusted key" in up.log.read_text(), 15, "the forgery to be refused")
    assert "not JSON" in up.log.read_text()
    assert upstream_status(d)["open"]

    order = sign_order(load_private_key(root / "authority.key"), ["*"], "incident 2026-11-22", "fleet EOC",
                       datetime.now(UTC))
    send("edge-app/fleet/control", json.dumps(order), retain=True)
    st = wait_for(lambda: (s := upstream_status(d))["suspended"] and s, 15, "the fleet's order to suspend the box")
    assert st["reason"] == "incident 2026-11-22" and st["order"]["order_id"] == order["order"]["id"]
    assert "signed order from fleet EOC (via uplink" in st["why"], st["why"]
    second = make_encounters(d, 1, rounds=1)
    time.sleep(3)
    assert upstream_status(d)["pending"] >= 1, "suspended: the new record waits"
    assert {json.loads(p)["encounter"] for _, p in sink.messages} == set(first), "suspended: nothing goes"

    # The technician resumes; the uplink restarts and the broker hands it the retained order again.
    with d.client() as c:
        assert c.post("/api/v1/upstream/resume", json={"reason": "incident over"}).json()["open"]
    up.terminate()
    up2 = uplink(root, procs, 1)
    wait_for(lambda: "applied before" in up2.log.read_text(), 20, "the retained order to come back and be ignored")
    wait_for(lambda: drained(d), 30, "the backlog to drain after the resume")
    assert upstream_status(d)["open"]
    wait_for(lambda: {json.loads(p)["encounter"] for _, p in sink.messages} == set(first + second), 15,
             "the held-back record at the broker")
    send("edge-app/fleet/control", b"", retain=True)  # the fleet clears the retained order
    sink.close()
