"""The forwarding gate over the API: its status, suspend, resume (with and without a signed approval) and
the fleet's signed suspend orders; with no [upstream] there is nothing to open or suspend."""
from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edge_app.upstream.approval import generate_keypair, key_fingerprint, load_private_key, sign
from edge_app.upstream.orders import sign_order
from tests.edge_app.api.conftest import TOKEN_NAMES, VEHICLE, Api, now_ms

U = "/api/v1/upstream"
FORWARDING = "forwarding to fhir http://127.0.0.1:9/fhir"


def status(api: Api) -> dict[str, Any]:
    r = api.client.get(U, headers=api.crew)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def approval(api: Api, *, vehicle: str = VEHICLE, start: timedelta = timedelta(minutes=-1),
             hours: float = 2, key: Any = None) -> dict[str, Any]:
    begin = datetime.now(UTC) + start
    return sign(key or api.authority, vehicle, begin, begin + timedelta(hours=hours), "EOC duty manager")


def order(api: Api, *, vehicles: tuple[str, ...] = (VEHICLE,), issued: datetime | None = None) -> dict[str, Any]:
    return sign_order(api.authority, list(vehicles), "incident 2026-11-22", "EOC", issued or datetime.now(UTC))


def test_without_upstream_nothing_is_forwarded(api: Api) -> None:
    doc = status(api)
    assert (doc["configured"], doc["open"], doc["target"], doc["url"], doc["vehicle"]) == (False, False, None, None,
                                                                                           "")
    assert doc["why"].startswith("not configured")
    assert (doc["pending"], doc["dead"], doc["sent"], doc["suspended"]) == (0, 0, 0, False)
    r = api.client.post(f"{U}/resume", json={}, headers=api.technician)
    assert r.status_code == 409 and "nothing to resume" in r.json()["detail"]
    r = api.client.post(f"{U}/orders", json={"order": {}, "signature": ""}, headers=api.technician)
    assert r.status_code == 409 and "nothing to suspend" in r.json()["detail"]


@pytest.mark.edge_config(upstream=True)
def test_the_status_of_an_open_gate(api: Api) -> None:
    doc = status(api)
    assert {k: doc[k] for k in ("configured", "target", "url", "vehicle", "open", "why", "suspended", "reason",
                                "require_approval", "live_observations", "pending", "dead", "sent",
                                "uplink_seen_at", "approval", "order")} == {
        "configured": True, "target": "fhir", "url": "http://127.0.0.1:9/fhir", "vehicle": VEHICLE, "open": True,
        "why": FORWARDING, "suspended": False, "reason": None, "require_approval": False,
        "live_observations": False, "pending": 0, "dead": 0, "sent": 0, "uplink_seen_at": None, "approval": None,
        "order": None}


@pytest.mark.edge_config(upstream=True)
def test_suspend_and_resume(api: Api) -> None:
    before = now_ms()
    r = api.client.post(f"{U}/suspend", json={"reason": "incident 2026-11-22"}, headers=api.technician)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["open"], doc["suspended"], doc["reason"], doc["by"]) == (False, True, "incident 2026-11-22",
                                                                       TOKEN_NAMES["technician"])
    assert before <= doc["since"] <= now_ms()
    assert doc["why"].startswith(f"suspended by {TOKEN_NAMES['technician']} at ")
    assert status(api) == {**doc, "uplink_seen_at": None}
    r = api.client.post(f"{U}/resume", json={}, headers=api.technician)
    assert r.status_code == 200, r.text
    assert (r.json()["open"], r.json()["suspended"], r.json()["reason"], r.json()["why"]) == (True, False, "resumed",
                                                                                            FORWARDING)
    assert api.client.post(f"{U}/resume", json={"reason": "fixed"}, headers=api.technician).json()["reason"] == "fixed"


@pytest.mark.edge_config(upstream=True)
def test_the_uplink_may_suspend_itself(api: Api) -> None:
    r = api.client.post(f"{U}/suspend", json={"reason": "target certificate changed"}, headers=api.uplink)
    assert r.status_code == 200 and r.json()["by"] == "uplink" and not r.json()["open"]
    assert api.client.post(f"{U}/resume", json={}, headers=api.uplink).status_code == 403


@pytest.mark.edge_config(upstream=True)
@pytest.mark.parametrize(("body", "words"), [
    ({}, "reason"), ({"reason": ""}, "body.reason"), ({"reason": "x" * 501}, "body.reason"),
    ({"reason": "x", "until": 1}, "until"),
])
def test_suspend_refusals(api: Api, body: dict[str, Any], words: str) -> None:
    r = api.client.post(f"{U}/suspend", json=body, headers=api.technician)
    assert r.status_code == 422 and words in str(r.json()), r.text
    assert status(api)["open"]


@pytest.mark.edge_config(upstream=True, require_approval=True)
def test_with_require_approval_resume_needs_a_signed_approval(api: Api) -> None:
    doc = status(api)
    assert not doc["open"] and doc["require_approval"] and doc["why"].startswith("waiting for an approval")
    r = api.client.post(f"{U}/resume", json={"reason": "please"}, headers=api.technician)
    assert r.status_code == 422 and "needs an approval signed by the authority" in r.json()["detail"]
    signed = approval(api)
    r = api.client.post(f"{U}/resume", json={"approval": signed}, headers=api.technician)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["open"] and doc["reason"] == "approved by EOC duty manager"
    assert doc["why"].startswith(f"{FORWARDING} (approved by EOC duty manager until ")
    assert doc["approval"]["approval_id"] == signed["approval"]["id"]
    assert doc["approval"]["vehicle"] == VEHICLE and doc["approval"]["issued_by"] == "EOC duty manager"
    assert doc["approval"]["key_fingerprint"] == key_fingerprint(api.authority.public_key())


@pytest.mark.edge_config(upstream=True)
def test_an_approval_given_without_the_need_is_still_checked(api: Api) -> None:
    r = api.client.post(f"{U}/resume", json={"approval": approval(api, vehicle="AMB-999")}, headers=api.technician)
    assert r.status_code == 422 and "it is for vehicle 'AMB-999'" in r.json()["detail"]
    r = api.client.post(f"{U}/resume", json={"approval": approval(api)}, headers=api.technician)
    assert r.status_code == 200 and r.json()["reason"] == "approved by EOC duty manager"
    assert r.json()["approval"] is None, "stored with the resume, but shown only where approvals are required"


@pytest.mark.edge_config(upstream=True, require_approval=True)
def test_bad_approvals_are_422_and_leave_the_gate_closed(api: Api) -> None:
    _, stranger = generate_keypair(api.root / "stranger")
    stranger_key = load_private_key(stranger.with_suffix(".key"))
    tampered = approval(api)
    tampered["approval"]["vehicle"] = "AMB-043"
    cases = [
        (approval(api, vehicle="AMB-043"), "it is for vehicle 'AMB-043', this is 'AMB-042'"),
        (approval(api, start=timedelta(hours=-3)), "expired at"),
        (approval(api, start=timedelta(hours=1)), "not valid before"),
        (approval(api, key=stranger_key), "not signed by a trusted key"),
        (tampered, "not signed by a trusted key"),
        ({"approval": tampered["approval"], "signature": "***"}, "signature is not base64"),
        ({"approval": {}}, "expected {\"approval\": {...}, \"signature\": \"...\"}"),
    ]
    for doc, words in cases:
        r = api.client.post(f"{U}/resume", json={"approval": doc}, headers=api.technician)
        assert r.status_code == 422, (words, r.text)
        assert words in r.json()["detail"], (words, r.text)
    assert not status(api)["open"]


@pytest.mark.edge_config(upstream=True)
def test_a_signed_order_suspends_once(api: Api) -> None:
    signed = order(api)
    r = api.client.post(f"{U}/orders", json=signed, headers=api.uplink)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["result"] == "applied"
    st = doc["status"]
    assert not st["open"] and st["suspended"] and st["reason"] == "incident 2026-11-22"
    assert st["by"] == "signed order from EOC (via uplink)"
    assert st["order"]["order_id"] == signed["order"]["id"] and st["order"]["issued_by"] == "EOC"
    again = api.client.post(f"{U}/orders", json=signed, headers=api.technician)
    assert again.status_code == 200 and again.json()["result"] == "already"
    fleet = api.client.post(f"{U}/orders", json=order(api, vehicles=("*",)), headers=api.technician)
    assert fleet.json()["result"] == "applied", "the whole fleet's order names this vehicle too"


@pytest.mark.edge_config(upstream=True)
def test_an_order_older_than_the_last_resume_is_409(api: Api) -> None:
    old = order(api, issued=datetime.now(UTC) - timedelta(minutes=5))
    api.client.post(f"{U}/suspend", json={"reason": "x"}, headers=api.technician)
    api.client.post(f"{U}/resume", json={}, headers=api.technician)
    r = api.client.post(f"{U}/orders", json=old, headers=api.uplink)
    assert r.status_code == 409 and "before forwarding was resumed" in r.json()["detail"], r.text
    assert status(api)["open"]


@pytest.mark.edge_config(upstream=True)
def test_bad_orders_are_refused(api: Api) -> None:
    tampered = order(api)
    tampered["order"]["reason"] = "something else"
    cases = [
        (order(api, vehicles=("AMB-7",)), 422, "order refused: it is for AMB-7, this is 'AMB-042'"),
        (order(api, issued=datetime.now(UTC) - timedelta(days=8)), 422, "more than 7 days ago"),
        (tampered, 422, "not signed by a trusted key"),
        ({**order(api), "signature": base64.b64encode(b"x" * 64).decode()}, 422, "not signed by a trusted key"),
        ({**order(api), "note": "x"}, 422, "note"),
        ({"order": {}}, 422, "signature"),
        ({"order": {}, "signature": "s" * 201}, 422, "body.signature"),
    ]
    for doc, code, words in cases:
        r = api.client.post(f"{U}/orders", json=doc, headers=api.technician)
        assert r.status_code == code, (words, r.text)
        assert words in str(r.json()), (words, r.text)
    assert status(api)["open"]
