"""The gate's answer for every combination that matters, and approvals as the authority makes them."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from edge_app.config import UpstreamConfig
from edge_app.model.upstream import ApprovalSummary, GateEvent
from edge_app.upstream.approval import (ApprovalError, generate_keypair, key_fingerprint, load_private_key,
                                        load_public_key, sign, verify)
from edge_app.upstream.gate import gate_state

UP = UpstreamConfig(target="fhir", url="https://fhir.example/R4")
STRICT = UpstreamConfig(target="fhir", url="https://fhir.example/R4", require_approval=True, trust_keys=("k",))
NOW = 1_800_000_000_000
APPROVAL = {"vehicle": "AMB-1", "not_before_ms": NOW - 1000, "not_after_ms": NOW + 3_600_000, "issued_by": "EOC",
            "approval_id": "a1", "key_fingerprint": "SHA256:aa"}


def resume(approval: dict | None = None) -> GateEvent:
    return GateEvent(at=NOW - 5000, actor="uid:0", action="resume", reason="ok",
                     approval=msgspec.convert(approval, ApprovalSummary) if approval else None)


def test_not_configured_is_closed() -> None:
    g = gate_state(None, None, NOW, set())
    assert not g.open and "not configured" in g.why


def test_open_by_default_and_closed_while_suspended() -> None:
    assert gate_state(UP, None, NOW, set()).open
    g = gate_state(UP, GateEvent(at=NOW, actor="tech", action="suspend", reason="cyber attack"), NOW, set())
    assert not g.open and g.suspended and "cyber attack" in g.why and "tech" in g.why
    assert gate_state(UP, resume(), NOW, set()).open


def test_require_approval_needs_a_valid_trusted_approval() -> None:
    assert "waiting for an approval" in gate_state(STRICT, None, NOW, {"SHA256:aa"}).why
    assert not gate_state(STRICT, resume(), NOW, {"SHA256:aa"}).open
    assert gate_state(STRICT, resume(APPROVAL), NOW, {"SHA256:aa"}).open
    g = gate_state(STRICT, resume(APPROVAL), NOW + 3_600_001, {"SHA256:aa"})
    assert not g.open and "expired" in g.why, "the gate closes by itself when the approval runs out"
    g = gate_state(STRICT, resume(APPROVAL), NOW, {"SHA256:bb"})
    assert not g.open and "no longer in upstream.trust_keys" in g.why


def test_approvals_round_trip_and_refuse_what_they_should(tmp_path: Path) -> None:
    priv, pub = generate_keypair(tmp_path / "authority")
    key = load_private_key(priv)
    start = datetime.now(UTC)
    doc = sign(key, "AMB-1", start, start + timedelta(hours=1), "EOC")
    now = int(start.timestamp() * 1000) + 1000
    a = verify(doc, [load_public_key(pub)], "AMB-1", now)
    assert a.key_fingerprint == key_fingerprint(load_public_key(pub)) and a.issued_by == "EOC"
    with pytest.raises(ApprovalError, match="not signed by a trusted key"):
        verify(doc, [load_public_key(generate_keypair(tmp_path / "x")[1])], "AMB-1", now)
    with pytest.raises(ApprovalError, match="for vehicle"):
        verify(doc, [load_public_key(pub)], "AMB-2", now)
    for bad in ({}, {"approval": [], "signature": "x"}, {"approval": {}, "signature": "%%%"}, "text"):
        with pytest.raises(ApprovalError):
            verify(bad, [load_public_key(pub)], "AMB-1", now)
    with pytest.raises(ApprovalError, match="exists"):
        generate_keypair(tmp_path / "authority")
    (tmp_path / "rsa.pub").write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ApprovalError, match="not a PEM public key"):
        load_public_key(tmp_path / "rsa.pub")
