"""The outbox the uplink drains: listing and its long poll, an entry's payload (423 while the gate is
closed), ack, fail, dead, the dead letters and requeue; and signing an offline bundle's manifest."""
from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tests.edge_app.api.conftest import VEHICLE, Api, now_ms

U = "/api/v1/upstream"
pytestmark = pytest.mark.edge_config(upstream=True)


def queued(api: Api, status: str = "closed") -> tuple[str, str]:
    """An encounter with an observation, handed over or closed: (its id, its outbox key)."""
    enc = api.encounter("INC-9")
    r = api.client.post(f"/api/v1/encounters/{enc['id']}/observations", json={"metric": "spo2", "value": 97},
                        headers=api.crew)
    assert r.status_code == 201, r.text
    r = api.client.patch(f"/api/v1/encounters/{enc['id']}", json={"status": status}, headers=api.crew)
    assert r.status_code == 200, r.text
    return enc["id"], f"enc-{enc['id']}-v{r.json()['version']}"


def outbox(api: Api, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = api.client.get(f"{U}/outbox", params=params, headers=headers)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def suspend(api: Api) -> None:
    assert api.client.post(f"{U}/suspend", json={"reason": "maintenance"}, headers=api.technician).status_code == 200


def test_handing_over_queues_the_record(api: Api) -> None:
    before = now_ms()
    eid, key = queued(api, "handed_over")
    doc = outbox(api, api.uplink, wait=0)
    assert doc["open"] and doc["why"].startswith("forwarding to fhir")
    [entry] = doc["entries"]
    assert {k: v for k, v in entry.items() if k not in ("seq", "created_at")} == {
        "key": key, "kind": "encounter", "encounter_id": eid, "encounter_status": "handed_over",
        "first_obs": None, "last_obs": None, "state": "pending", "attempts": 0,
        "last_attempt_at": None, "last_error": None, "http_status": None, "dead_at": None}
    assert before <= entry["created_at"] <= now_ms()
    st = api.client.get(U, headers=api.crew).json()
    assert st["pending"] == 1 and st["oldest_pending_at"] == entry["created_at"]
    assert st["uplink_seen_at"] is not None, "the uplink's poll is noted"
    _, key2 = queued(api)
    assert [e["key"] for e in outbox(api, api.uplink)["entries"]] == [key, key2]
    assert [e["key"] for e in outbox(api, api.uplink, limit=1)["entries"]] == [key]
    assert [e["key"] for e in outbox(api, api.uplink, after=entry["seq"])["entries"]] == [key2]
    api.client.patch(f"/api/v1/encounters/{eid}", json={"status": "closed"}, headers=api.crew)
    keys = [e["key"] for e in outbox(api, api.technician)["entries"]]
    assert keys == [key2, f"enc-{eid}-v3"], "a newer state of the record replaces the pending one"


def test_a_closed_gate_hides_the_outbox_from_the_uplink_only(api: Api) -> None:
    _, key = queued(api)
    suspend(api)
    doc = outbox(api, api.uplink, wait=0)
    assert doc == {"open": False, "why": doc["why"], "entries": []} and doc["why"].startswith("suspended by")
    assert [e["key"] for e in outbox(api, api.technician)["entries"]] == [key], "to carry it out by hand"


def test_the_payload_is_the_records_fhir_bundle(api: Api) -> None:
    eid, key = queued(api)
    r = api.client.get(f"{U}/outbox/{key}", headers=api.uplink)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["key"], doc["kind"], doc["encounter_id"]) == (key, "encounter", eid)
    assert doc["bundle"]["resourceType"] == "Bundle" and doc["bundle"]["type"] == "transaction"
    exported = api.client.get(f"/api/v1/encounters/{eid}/fhir", headers=api.crew).json()
    assert [e["fullUrl"] for e in doc["bundle"]["entry"]] == [e["fullUrl"] for e in exported["entry"]]


def test_no_payload_for_the_uplink_while_the_gate_is_closed(api: Api) -> None:
    _, key = queued(api)
    suspend(api)
    r = api.client.get(f"{U}/outbox/{key}", headers=api.uplink)
    assert r.status_code == 423, r.text
    assert r.json()["detail"].startswith("forwarding is closed: suspended by")
    assert api.client.get(f"{U}/outbox/{key}", headers=api.technician).status_code == 200


def test_ack_takes_the_entry_out_once(api: Api) -> None:
    eid, key = queued(api)
    r = api.client.post(f"{U}/outbox/{key}/ack", headers=api.uplink)
    assert r.status_code == 200 and r.json() == {"result": "acked"}
    assert api.client.post(f"{U}/outbox/{key}/ack", headers=api.uplink).json() == {"result": "already"}
    assert outbox(api, api.uplink)["entries"] == []
    st = api.client.get(U, headers=api.crew).json()
    assert (st["pending"], st["sent"]) == (0, 1) and st["last_ok_at"] is not None
    acked = api.services.store.reader.db.execute("SELECT upstream_acked_at FROM encounters WHERE id = ?", (eid,)).fetchone()[0]
    assert acked == st["last_ok_at"], "a closed record acknowledged upstream may be purged after retention"
    assert api.client.get(f"{U}/outbox/{key}", headers=api.uplink).status_code == 404


def test_a_failed_try_is_counted_and_stays_pending(api: Api) -> None:
    _, key = queued(api)
    r = api.client.post(f"{U}/outbox/{key}/fail", json={"error": "503 from target", "status": 503},
                        headers=api.uplink)
    assert r.status_code == 204 and r.content == b""
    [entry] = outbox(api, api.uplink)["entries"]
    assert (entry["state"], entry["attempts"], entry["last_error"], entry["http_status"]) == (
        "pending", 1, "503 from target", 503)
    st = api.client.get(U, headers=api.crew).json()
    assert st["last_error"] == "503 from target" and st["last_error_at"] == entry["last_attempt_at"]


def test_a_refusal_makes_a_dead_letter_a_technician_can_requeue(api: Api) -> None:
    _, key = queued(api)
    r = api.client.post(f"{U}/outbox/{key}/dead", json={"error": "422: bad coding", "status": 422},
                        headers=api.uplink)
    assert r.status_code == 200, r.text
    dead = r.json()
    assert (dead["key"], dead["state"], dead["attempts"], dead["http_status"], dead["last_error"]) == (
        key, "dead", 1, 422, "422: bad coding")
    assert dead["dead_at"] is not None
    assert outbox(api, api.technician)["entries"] == []
    letters = api.client.get(f"{U}/dead-letters", headers=api.technician)
    assert letters.status_code == 200 and letters.json() == [dead]
    st = api.client.get(U, headers=api.crew).json()
    assert (st["dead"], st["pending"], st["last_error"]) == (1, 0, f"{key} refused: 422: bad coding")
    r = api.client.post(f"{U}/dead-letters/{key}/requeue", headers=api.technician)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["dead_at"], r.json()["attempts"]) == ("pending", None, 1)
    assert [e["key"] for e in outbox(api, api.uplink)["entries"]] == [key]
    assert api.client.get(f"{U}/dead-letters", headers=api.technician).json() == []
    again = api.client.post(f"{U}/dead-letters/{key}/requeue", headers=api.technician)
    assert again.status_code == 404 and "is not a dead letter" in again.json()["detail"]


@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("GET", "", None), ("POST", "/ack", None), ("POST", "/fail", {"error": "x"}), ("POST", "/dead", {"error": "x"}),
])
def test_an_unknown_key_is_404_and_a_malformed_one_422(shared_api: Api, method: str, suffix: str, body: Any) -> None:
    key = f"enc-{uuid.uuid4()}-v3"
    r = shared_api.client.request(method, f"{U}/outbox/{key}{suffix}", json=body, headers=shared_api.technician)
    assert r.status_code == 404 and r.json()["detail"].startswith(f"outbox entry {key} not found"), r.text
    r = shared_api.client.request(method, f"{U}/outbox/enc-nope{suffix}", json=body, headers=shared_api.technician)
    assert r.status_code == 422 and "key" in r.json()["detail"], r.text


def test_requeueing_an_unknown_key_is_404(shared_api: Api) -> None:
    key = f"obs-1-{uuid.uuid4().int % 10**9}"
    r = shared_api.client.post(f"{U}/dead-letters/{key}/requeue", headers=shared_api.technician)
    assert r.status_code == 404 and key in r.json()["detail"]


@pytest.mark.parametrize(("body", "words"), [
    ({}, "error"), ({"error": ""}, "body.error"), ({"error": "x" * 501}, "body.error"),
    ({"error": "x", "status": 99}, "body.status"), ({"error": "x", "status": 600}, "body.status"),
    ({"error": "x", "retry": True}, "retry"),
])
@pytest.mark.parametrize("verdict", ["fail", "dead"])
def test_a_bad_failure_report_is_422(shared_api: Api, verdict: str, body: dict[str, Any], words: str) -> None:
    key = f"enc-{uuid.uuid4()}-v3"
    r = shared_api.client.post(f"{U}/outbox/{key}/{verdict}", json=body, headers=shared_api.uplink)
    assert r.status_code == 422 and words in str(r.json()), r.text


@pytest.mark.parametrize("params", [{"wait": 61}, {"wait": -1}, {"limit": 0}, {"limit": 501}, {"after": -1}])
def test_bad_outbox_parameters_are_422(shared_api: Api, params: dict[str, Any]) -> None:
    r = shared_api.client.get(f"{U}/outbox", params=params, headers=shared_api.uplink)
    assert r.status_code == 422 and next(iter(params)) in r.json()["detail"], r.text


class WatchedEvent(asyncio.Event):
    """The outbox's wake-up event, telling the test thread when a long poll has started waiting on it."""

    def __init__(self, waiting: threading.Event) -> None:
        super().__init__()
        self.waiting = waiting

    async def wait(self) -> bool:
        self.waiting.set()
        return await super().wait()


def test_a_long_poll_is_woken_by_a_resume(api: Api) -> None:
    _, key = queued(api)
    suspend(api)
    waiting = threading.Event()
    api.services.upstream._changed = WatchedEvent(waiting)  # the event the next long poll waits on
    with ThreadPoolExecutor(1) as pool:
        t0 = time.monotonic()
        poll = pool.submit(outbox, api, api.uplink, wait=30)
        assert waiting.wait(5), "the poll did not wait"
        api.client.post(f"{U}/resume", json={}, headers=api.technician)
        doc = poll.result(10)
    assert doc["open"] and [e["key"] for e in doc["entries"]] == [key]
    assert time.monotonic() - t0 < 4, "woken, not timed out (it rechecks every 5 s)"


def test_wait_0_answers_at_once_when_nothing_waits(api: Api) -> None:
    t0 = time.monotonic()
    assert outbox(api, api.uplink, wait=0) == {"open": True, "why": "forwarding to fhir http://127.0.0.1:9/fhir",
                                               "entries": []}
    assert time.monotonic() - t0 < 2


@pytest.mark.edge_config(upstream=True, live_observations=True)
def test_live_observations_are_cut_into_entries_when_the_uplink_asks(api: Api) -> None:
    eid = api.encounter()["id"]
    ids = [api.client.post(f"/api/v1/encounters/{eid}/observations", json={"metric": "spo2", "value": v},
                           headers=api.crew).json()["id"] for v in (97, 96)]
    [entry] = outbox(api, api.uplink)["entries"]
    assert (entry["key"], entry["kind"], entry["encounter_id"]) == (f"obs-{ids[0]}-{ids[1]}", "observations", eid)
    payload = api.client.get(f"{U}/outbox/{entry['key']}", headers=api.uplink).json()
    kinds = [e["resource"]["resourceType"] for e in payload["bundle"]["entry"]]
    assert kinds.count("Observation") == 2


def test_sign_signs_an_offline_bundles_manifest(api: Api) -> None:
    record = {"file": "records/enc-1.json", "key": "enc-1", "kind": "encounter",
              "encounter_id": str(uuid.uuid4()), "sha256": "ab" * 32, "bytes": 1234}
    r = api.client.post(f"{U}/sign", json={"records": [record]}, headers=api.technician)
    assert r.status_code == 200, r.text
    doc = r.json()
    manifest = json.loads(doc["manifest"])
    assert manifest["type"] == "edge-app-offline-bundle" and manifest["vehicle"] == VEHICLE
    assert manifest["records"] == [record] and manifest["signing_key"] == doc["fingerprint"]
    key = load_pem_public_key(doc["public_key"].encode())
    assert isinstance(key, Ed25519PublicKey)
    key.verify(base64.b64decode(doc["signature"]), doc["manifest"].encode())  # raises if it does not match
    again = api.client.post(f"{U}/sign", json={"records": []}, headers=api.technician).json()
    assert again["fingerprint"] == doc["fingerprint"], "one key per vehicle, kept beside the database"


@pytest.mark.parametrize(("change", "words"), [
    ({"file": "../etc/passwd"}, "file"), ({"sha256": "AB" * 32}, "sha256"), ({"bytes": -1}, "bytes"),
    ({"kind": "note"}, "kind"), ({"extra": 1}, "extra"),
])
def test_sign_refuses_a_bad_record(shared_api: Api, change: dict[str, Any], words: str) -> None:
    record = {"file": "records/enc-1.json", "key": "enc-1", "kind": "encounter", "encounter_id": "e",
              "sha256": "ab" * 32, "bytes": 1, **change}
    r = shared_api.client.post(f"{U}/sign", json={"records": [record]}, headers=shared_api.technician)
    assert r.status_code == 422 and words in str(r.json()), r.text


@pytest.mark.edge_config()
def test_without_a_vehicle_there_is_nothing_to_sign_or_forward(api: Api) -> None:
    r = api.client.post(f"{U}/sign", json={"records": []}, headers=api.technician)
    assert r.status_code == 409 and "vehicle_id is not set" in r.json()["detail"]
    assert outbox(api, api.uplink, wait=30) == {"open": False, "why": outbox(api, api.uplink)["why"], "entries": []}
