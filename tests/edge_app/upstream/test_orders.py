"""The fleet's signed suspend orders as the authority makes them, and every refusal a box must make."""
from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge_app.upstream.approval import ApprovalError, canonical, generate_keypair, load_private_key, load_public_key
from edge_app.upstream.orders import ORDER_TYPE, sign_order, verify_order

T0 = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
NOW = int(T0.timestamp() * 1000) + 60_000


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Any, Any, Any]:
    priv, pub = generate_keypair(tmp_path / "authority")
    _, other = generate_keypair(tmp_path / "someone-else")
    return load_private_key(priv), load_public_key(pub), load_public_key(other)


def resign(doc: dict[str, Any], key: Any, **changes: Any) -> dict[str, Any]:
    """The same order with fields changed, properly signed again: only the content can be wrong."""
    body = {**copy.deepcopy(doc["order"]), **changes}
    return {"order": body, "signature": base64.b64encode(key.sign(canonical(body))).decode()}


def test_an_order_for_this_vehicle_or_the_fleet_is_accepted(keys: tuple[Any, Any, Any]) -> None:
    priv, pub, _ = keys
    o = verify_order(sign_order(priv, ["AMB-042", "AMB-043"], "incident  2026-11-22", "EOC", T0), [pub], "AMB-042", NOW)
    assert o.reason == "incident 2026-11-22" and o.issued_by == "EOC" and o.issued_at_ms == NOW - 60_000
    assert o.key_fingerprint.startswith("SHA256:") and len(o.order_id) == 36
    fleet = verify_order(sign_order(priv, ["*"], "incident", "EOC", T0), [pub], "ANY-VEHICLE", NOW)
    assert fleet.order_id != o.order_id


def test_refusals_say_which(keys: tuple[Any, Any, Any]) -> None:
    priv, pub, other = keys
    doc = sign_order(priv, ["AMB-042"], "incident", "EOC", T0)
    cases: list[tuple[Any, str]] = [
        (doc | {"order": {**doc["order"], "reason": "changed after signing"}}, "not signed by a trusted key"),
        (resign(doc, priv, vehicles=["AMB-001"]), "it is for AMB-001, this is 'AMB-042'"),
        (resign(doc, priv, vehicles=[]), "must list vehicle ids"),
        (resign(doc, priv, vehicles="*"), "must list vehicle ids"),
        (resign(doc, priv, type="edge-app-upstream-approval"), "type is"),
        (resign(doc, priv, reason=""), "reason must be"),
        (resign(doc, priv, reason="x" * 301), "reason must be"),
        (resign(doc, priv, id=""), "id must be"),
        (resign(doc, priv, issued_at="2026-11-22T09:30:00"), "no time zone"),
        (resign(doc, priv, issued_at="yesterday"), "not an ISO 8601 time"),
        (resign(doc, priv, issued_at=(T0 - timedelta(days=8)).isoformat()), "more than 7 days ago"),
        (resign(doc, priv, issued_at=(T0 + timedelta(hours=2)).isoformat()), "in the future"),
        ({"order": doc["order"]}, "not an order file"),
        ({"order": doc["order"], "signature": "%%%"}, "not base64"),
        ("text", "not an order file"),
    ]
    for bad, words in cases:
        with pytest.raises(ApprovalError, match=words.replace("(", r"\(").replace("*", r"\*")):
            verify_order(bad, [pub], "AMB-042", NOW)
    with pytest.raises(ApprovalError, match="not signed by a trusted key"):
        verify_order(doc, [other], "AMB-042", NOW)
    with pytest.raises(ApprovalError, match="no trust keys configured"):
        verify_order(doc, [], "AMB-042", NOW)
    assert doc["order"]["type"] == ORDER_TYPE


def test_an_approval_is_not_an_order(keys: tuple[Any, Any, Any]) -> None:
    """Same key, same canonical form: the wrapper and the type keep one from passing as the other."""
    from edge_app.upstream.approval import sign

    priv, pub, _ = keys
    approval = sign(priv, "AMB-042", T0, T0 + timedelta(hours=1), "EOC")
    with pytest.raises(ApprovalError, match="not an order file"):
        verify_order(approval, [pub], "AMB-042", NOW)
    with pytest.raises(ApprovalError, match="type is"):
        verify_order({"order": approval["approval"], "signature": approval["signature"]}, [pub], "AMB-042", NOW)


def test_sign_order_refuses_nonsense(keys: tuple[Any, Any, Any]) -> None:
    priv = keys[0]
    with pytest.raises(ApprovalError, match="at least one vehicle"):
        sign_order(priv, [], "incident", "EOC", T0)
    with pytest.raises(ApprovalError, match="reason must be"):
        sign_order(priv, ["AMB-042"], "  ", "EOC", T0)
