"""JOURNEYS 3.1 "or the fleet, by a signed message": the authority signs one suspend order; a technician
applies the file, or the uplink passes it on. Every layer for real: the CLI on both sides, the daemon over
its socket, the store's once-only rule, who may post one."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge_app.upstream.approval import generate_keypair, load_private_key
from edge_app.upstream.orders import sign_order
from tests.e2e.harness import ROOT, Daemon, Proc, write_config
from tests.e2e.test_upstream_gate import VEHICLE, as_uplink, cli, close_encounter

ORDERS = "/api/v1/upstream/orders"


@pytest.fixture
def daemon(root: Path, procs: list[Proc]) -> Daemon:
    generate_keypair(root / "authority")
    extra = (f'[appliance]\nvehicle_id = "{VEHICLE}"\n[upstream]\ntarget = "fhir"\nurl = "http://127.0.0.1:9/fhir"\n'
             f'trust_keys = ["{root / "authority.pub"}"]\n')
    d = Daemon(write_config(root, extra=extra), root)
    procs.append(d)
    return d.wait_ready()


def test_a_signed_order_suspends_once_and_never_undoes_a_later_resume(daemon: Daemon, root: Path) -> None:
    close_encounter(daemon)
    r = subprocess.run([sys.executable, "-m", "edge_app", "upstream", "sign-suspend", "--key",
                        str(root / "authority.key"), "--fleet", "--reason", "incident 2026-11-22",
                        "--issued-by", "EOC duty manager", "--out", str(root / "order.json")],
                       cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and "whole fleet" in r.stdout, r.stderr
    r = cli(root, "upstream", "suspend", "--order", str(root / "order.json"))
    assert r.returncode == 0 and "suspended by the signed order: incident 2026-11-22 (1 waiting)" in r.stdout, r.stderr
    with daemon.client() as c:
        st = c.get("/api/v1/upstream").json()
        assert not st["open"] and st["suspended"] and st["reason"] == "incident 2026-11-22"
        assert "signed order from EOC duty manager" in st["why"], st["why"]
        assert st["order"]["order_id"] == json.loads((root / "order.json").read_text())["order"]["id"]
        assert st["order"]["key_fingerprint"].startswith("SHA256:")
    with as_uplink(daemon) as up:
        assert up.get("/api/v1/upstream/outbox").json()["entries"] == [], "suspended: nothing for the uplink"
    # The same order again (an MQTT retained message comes back at every reconnect): nothing new.
    r = cli(root, "upstream", "suspend", "--order", str(root / "order.json"))
    assert r.returncode == 0 and "applied before; forwarding is still suspended" in r.stdout
    assert cli(root, "upstream", "resume", "--reason", "incident over").returncode == 0
    with as_uplink(daemon) as up:
        got = up.post(ORDERS, json=json.loads((root / "order.json").read_text()))
        assert got.status_code == 200 and got.json()["result"] == "already", got.text
        assert got.json()["status"]["open"], "an order applied once must not suspend again after a resume"
    # A different order, but signed before the resume, is stale: refused, and says why.
    key = load_private_key(root / "authority.key")
    stale = sign_order(key, [VEHICLE], "old news", "EOC", datetime.now(UTC) - timedelta(minutes=5))
    with daemon.client() as c:
        got = c.post(ORDERS, json=stale)
        assert got.status_code == 409 and "before forwarding was resumed" in got.json()["detail"], got.text
        assert c.get("/api/v1/upstream").json()["open"]
    with sqlite3.connect(f"file:{root / 'edge.db'}?mode=ro", uri=True) as db:
        audit = [a for (a,) in db.execute("SELECT action FROM audit_log WHERE action LIKE 'upstream.%' ORDER BY id")]
    assert audit == ["upstream.suspend", "upstream.resume"], audit


def test_orders_that_must_be_refused_are_refused_with_reasons(daemon: Daemon, root: Path) -> None:
    stranger = load_private_key(generate_keypair(root / "stranger")[0])
    key = load_private_key(root / "authority.key")
    now = datetime.now(UTC)
    cases = {
        "not signed by a trusted key": sign_order(stranger, ["*"], "spoofed", "?", now),
        "it is for AMB-001, this is 'AMB-042'": sign_order(key, ["AMB-001"], "someone else's", "EOC", now),
        "more than 7 days ago": sign_order(key, ["*"], "stale", "EOC", now - timedelta(days=8)),
    }
    with daemon.client() as c:
        for words, doc in cases.items():
            got = c.post(ORDERS, json=doc)
            assert got.status_code == 422 and words in got.json()["detail"], (words, got.text)
        assert c.post(ORDERS, json={"order": {}, "signature": "x" * 201}).status_code == 422
        assert c.get("/api/v1/upstream").json()["open"], "nothing refused changed the gate"
    r = cli(root, "upstream", "suspend", "--order", str(root / "nope.json"))
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_a_crew_tablet_cannot_post_an_order(daemon: Daemon, root: Path) -> None:
    with daemon.client() as c:
        code = c.post("/api/v1/pairing-codes", json={"scope": "crew"}).json()["code"]
        token = c.post("/api/v1/pair", json={"code": code, "name": "tablet-1"}).json()["token"]
    doc = sign_order(load_private_key(root / "authority.key"), ["*"], "incident", "EOC", datetime.now(UTC))
    with daemon.client() as c:
        c.headers["Authorization"] = f"Bearer {token}"
        assert c.post(ORDERS, json=doc).status_code == 403
