"""Crew tablets over TLS: pair once with a one-time code, then a named, scoped, revocable token."""
from __future__ import annotations

import hashlib
import re
import socket
import ssl
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Daemon, Proc, write_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tablet_daemon(root: Path, procs: list[Proc]) -> tuple[Daemon, int]:
    port = free_port()
    # 0.0.0.0 is off loopback: the listener must be TLS. Tests connect to it on 127.0.0.1 only.
    cfg = write_config(root, extra=f'listen = "0.0.0.0:{port}"')
    d = Daemon(cfg, root)
    procs.append(d)
    d.wait_ready()
    return d, port


def server_fingerprint(port: int) -> str:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der
    return hashlib.sha256(der).hexdigest().upper()


def tablet(port: int, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # A real tablet pins the fingerprint from the pairing QR code; here we check it by hand below.
    return httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=False, headers=headers, timeout=5)


def test_pair_use_and_revoke_a_tablet(tablet_daemon: tuple[Daemon, int], root: Path) -> None:
    d, port = tablet_daemon
    with d.client() as local:
        code_doc = local.post("/api/v1/pairing-codes", json={}).json()
    code = code_doc["code"]
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{10}", code)
    assert code_doc["url"].startswith("https://") and code_doc["url"].endswith(f":{port}")
    assert code_doc["fingerprint"].replace(":", "") == server_fingerprint(port), "the code shows the served cert"
    with pytest.raises(httpx.HTTPError):  # plain HTTP is never served off loopback
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3).raise_for_status()
    with tablet(port) as anon:
        assert anon.get("/healthz").json() == {"status": "ok"}
        r = anon.get("/api/v1/encounters")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        typed = code[:5].lower() + "-" + code[5:].lower()  # as a person types it
        r = anon.post("/api/v1/pair", json={"code": typed, "name": "tablet-rear"})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        assert r.json()["scope"] == "crew"
        again = anon.post("/api/v1/pair", json={"code": code, "name": "tablet-2"})
        assert again.status_code == 403, "single use"
    with tablet(port, token) as crew:
        eid = crew.post("/api/v1/encounters", json={"incident_ref": "INC-9"}).json()["id"]
        assert crew.get(f"/api/v1/encounters/{eid}").json()["incident_ref"] == "INC-9"
        assert crew.get("/api/v1/tokens").status_code == 403, "crew cannot manage tokens"
        assert crew.post("/api/v1/pairing-codes", json={}).status_code == 403
    with d.client() as local:
        names = [t["name"] for t in local.get("/api/v1/tokens").json()]
        assert names == ["tablet-rear"]
    p = Proc(["tokens", "revoke", "tablet-rear", "--config", str(root / "config.toml")], root / "revoke.log")
    assert p.p.wait(30) == 0, p.output()
    with tablet(port, token) as crew:
        assert crew.get("/api/v1/encounters").status_code == 401, "revocation takes effect at once"
    db_text = (root / "edge.db").read_bytes()
    assert token.encode() not in db_text and code.encode() not in db_text, "only hashes are stored"


def test_guessing_codes_locks_pairing_for_a_minute(tablet_daemon: tuple[Daemon, int]) -> None:
    d, port = tablet_daemon
    with d.client() as local:
        code = local.post("/api/v1/pairing-codes", json={}).json()["code"]
    with tablet(port) as anon:
        statuses = [anon.post("/api/v1/pair", json={"code": "0000000000", "name": f"x{i}"}).status_code
                    for i in range(6)]
        assert statuses[:5] == [403] * 5 and statuses[5] == 429
        r = anon.post("/api/v1/pair", json={"code": code, "name": "real"})
        assert r.status_code == 429 and r.headers["retry-after"] == "60", "even the right code waits"


def test_forwarded_headers_cannot_pose_as_the_unix_socket(tablet_daemon: tuple[Daemon, int]) -> None:
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: "unix" there made a loopback client the
    Unix-socket peer, i.e. a technician. The daemon sits behind no proxy and must take no such header."""
    _d, port = tablet_daemon
    with tablet(port) as anon:
        for forwarded in ("unix", "unix:0", "unix, unix"):
            r = anon.get("/api/v1/tokens", headers={"X-Forwarded-For": forwarded, "X-Forwarded-Proto": "http"})
            assert r.status_code == 401, (forwarded, r.status_code)


def test_pair_command_prints_code_url_and_fingerprint(tablet_daemon: tuple[Daemon, int], root: Path) -> None:
    _d, port = tablet_daemon
    p = Proc(["pair", "--config", str(root / "config.toml")], root / "pair.log")
    assert p.p.wait(30) == 0, p.output()
    out = p.output()
    assert re.search(r"pairing code:\s+[0-9A-Z]{5}-[0-9A-Z]{5}", out)
    assert f":{port}" in out and "SHA-256" in out
    assert server_fingerprint(port)[:8] in out.replace(":", "")


def test_uplink_scope_reads_no_record_over_tls(tablet_daemon: tuple[Daemon, int]) -> None:
    """An uplink-scope token (issue 16, finding 1) reaches the outbox and status, never a record."""
    d, port = tablet_daemon
    with d.client() as local:
        code = local.post("/api/v1/pairing-codes", json={"scope": "uplink"}).json()["code"]
        local.post("/api/v1/encounters", json={})
    with tablet(port) as anon:
        token = anon.post("/api/v1/pair", json={"code": code, "name": "uplink"}).json()["token"]
    with tablet(port, token) as up:
        assert up.get("/api/v1/encounters").status_code == 403
        assert up.post("/api/v1/encounters", json={}).status_code == 403
        assert up.get("/api/v1/devices").status_code == 403
        assert up.get("/api/v1/upstream/outbox").status_code == 200


def test_doctor_checks_the_tablet_listener_and_its_certificate(tablet_daemon: tuple[Daemon, int],
                                                               root: Path) -> None:
    import json
    import subprocess
    import sys

    from tests.e2e.harness import ROOT

    r = subprocess.run([sys.executable, "-m", "edge_app", "doctor", "--json", "--config", str(root / "config.toml")],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    rows = {c["check"]: c for c in json.loads(r.stdout)}
    assert rows["api listen"]["status"] == "ok", rows["api listen"]
    assert rows["tls certificate"]["status"] == "ok" and "expires" in rows["tls certificate"]["detail"]
    (root / "tls" / "tablet.crt").write_text("not a certificate")
    r = subprocess.run([sys.executable, "-m", "edge_app", "doctor", "--json", "--config", str(root / "config.toml")],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    rows = {c["check"]: c for c in json.loads(r.stdout)}
    assert rows["tls certificate"]["status"] == "FAIL" and rows["tls certificate"]["fix"]
    assert r.returncode == 1


def test_pinned_tls_tablet_reads_the_stream_and_resumes_after_a_drop(root: Path, procs: list[Proc]) -> None:
    """The tablet trusts exactly the certificate whose fingerprint it was shown, nothing else."""
    import asyncio

    from edge_app.client import sse_events
    from tests.e2e.harness import Simulator

    port = free_port()
    link = root / "tty0"
    procs.append(Simulator("masimo-ascii", link, root / "sim.log", rate=20))
    cfg = write_config(root, [("ox", "masimo-ascii", link)], extra=f'listen = "0.0.0.0:{port}"')
    d = Daemon(cfg, root)
    procs.append(d)
    d.wait_ready()
    with d.client() as local:
        doc = local.post("/api/v1/pairing-codes", json={}).json()
    cert = root / "tls" / "tablet.crt"
    pinned = ssl.create_default_context(cafile=str(cert))  # the one certificate, as its own anchor
    assert doc["fingerprint"].replace(":", "") == server_fingerprint(port)
    with httpx.Client(base_url=f"https://localhost:{port}", verify=pinned) as c:
        token = c.post("/api/v1/pair", json={"code": doc["code"], "name": "tablet-s"}).json()["token"]

    async def collect(n: int, last: int | None) -> list[int]:
        ids: list[int] = []
        async with httpx.AsyncClient(base_url=f"https://localhost:{port}", verify=pinned,
                                     headers={"Authorization": f"Bearer {token}"}) as c:
            async for _kind, _data, eid in sse_events(c, last_event_id=last):
                if eid is not None:
                    ids.append(eid)
                    if len(ids) >= n:
                        return ids
        return ids

    first = asyncio.run(asyncio.wait_for(collect(20, None), 20))
    asyncio.run(asyncio.sleep(0.5))  # the link drops for a moment
    second = asyncio.run(asyncio.wait_for(collect(40, first[-1]), 20))
    assert second[0] == first[-1] + 1 and second == list(range(second[0], second[0] + len(second)))
    other = ssl.create_default_context()  # a client that trusts the usual CAs but not this box: refused
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://localhost:{port}/healthz", verify=other, timeout=5)
