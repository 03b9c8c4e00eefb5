"""The FHIR target against real HTTP(S) servers: a small scriptable FHIR-ish endpoint (stdlib http.server in
a thread, real sockets and TLS) for the status mapping, chunking, pinning, mTLS and OAuth2; and, when the
shared rig is there (tests/e2e/upstream), the real FHIR engine behind the fault-injecting proxy."""
from __future__ import annotations

import collections
import json
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from edge_app.clinical.fhir import encounter_bundle
from edge_app.config import Config, UpstreamConfig
from edge_app.model.devices import KnownDevice
from edge_app.model.encounter import EncounterRecord, Patient, Times
from edge_app.model.observation import Observation
from edge_app.uplink.targets import make_target
from edge_app.uplink.targets.base import Record, Result
from edge_app.uplink.targets.fhir import FhirTarget, split_bundle
from tests.edge_app.uplink.test_tls_pin import make_ca, self_signed, server_context
from tests.e2e.upstream.flaky import FlakyHttpProxy
from tests.e2e.upstream.servers import FhirEngine, start_fhir_engine

FHIR_JSON = "application/fhir+json"
VEHICLE = "AMB-042"
T0 = 1772361060000
NS = uuid.UUID("2b0f3c9e-0d55-4c34-8f63-6a1f7e3f5a10")

# ------------------------------------------------------------------------------------------- records


def id_for(key: str) -> str:
    return str(uuid.uuid5(NS, key))


def encounter(n_obs: int = 7, *, devices: int = 1) -> dict[str, Any]:
    """A real edge_app bundle: Patient, Encounter, `devices` Devices and `n_obs` single Observations."""
    record = EncounterRecord(id="7d4f1b7e-2c1a-4a8e-9d2b-0c6e5f4a3b21", incident_ref="", status="handed_over",
                             spo2_scale=1, created_at=T0, updated_at=T0, version=1, complaint="chest pain",
                             injuries=None,
                             patient=Patient(name="Test Patient", sex="female", date_of_birth="1961-07-14"),
                             times=Times(call=T0, handover=T0 + 3_600_000), medications_given=[], interventions=[],
                             notes=[])
    metrics = [("spo2", 96, "%"), ("pulse_rate", 88, "/min"), ("resp_rate", 18, "/min"),
               ("temperature", 37.1, "Cel"), ("heart_rate", 87, "/min"), ("glucose", 6.2, "mmol/L")]
    names = [f"monitor-{d}" for d in range(devices)]
    observations = []
    for i in range(n_obs):
        metric, value, unit = metrics[i % len(metrics)]
        observations.append(Observation(id=i + 1, encounter_id=record.id, metric=metric, value=value + i % 3,
                                        unit=unit, device_time=None, received_at=T0 + 60_000 * (i + 1),
                                        source="device", device=names[i % devices], flags=[], entered_by=None))
    known = [KnownDevice(name=n, protocol="masimo-ascii", port=None, info={}) for n in names]
    return encounter_bundle(record, observations, known, now_ms=T0 + 4_000_000, id_for=id_for)


def record_of(bundle: dict[str, Any], key: str = "enc-1-v1") -> Record:
    enc = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    return Record(key=key, kind="encounter", encounter_id=enc, body=bundle)


def config(url: str, **kw: Any) -> Config:
    kw = {k: (str(v) if isinstance(v, Path) else v) for k, v in kw.items()}
    return Config(db_path=Path("/nonexistent/edge.db"), socket_path=Path("/nonexistent/api.sock"),
                  upstream=UpstreamConfig(target="fhir", url=url, **kw), vehicle_id=VEHICLE)


# ------------------------------------------------------------------------------------------- a FHIR-ish server


@dataclass
class Req:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


RESET = "reset"  # handler answer: drop the connection without a response (RST)


def transaction_response(bundle: dict[str, Any], status: str = "201 Created") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction-response",
            "entry": [{"response": {"status": status, "location": f"{e['request']['url']}/_history/1"}}
                      for e in bundle.get("entry", [])]}


def outcome(text: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid",
                                                           "diagnostics": text}]}


Reply = tuple[int, Any] | str | None


class FakeFhir:
    """POST /fhir/R4 takes a transaction (answered by `handler`, default: all 201); POST /oauth/token issues
    tokens for client "vehicle-1" with secret `secret`; with `require_token` the FHIR side wants one."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Req] = []
        self.token_requests: list[dict[str, str]] = []
        self.handler: Callable[[Req], Reply] = lambda req: None
        self.require_token = False
        self.valid_tokens: set[str] = set()
        self.secret = "s3cret"
        self.expires_in: float | None = 3600
        self.tls_errors: list[str] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                req = Req("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                reply = fake.token(req) if self.path.endswith("/token") else fake.fhir(req)
                if reply == RESET:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                status, payload = reply  # type: ignore[misc]
                if isinstance(payload, bytes | str):
                    data = payload.encode() if isinstance(payload, str) else payload
                    ctype = "text/html"
                else:
                    data, ctype = json.dumps(payload).encode(), FHIR_JSON
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def finish_request(self, request: Any, client_address: Any) -> None:
                if tls is not None:
                    try:
                        request = tls.wrap_socket(request, server_side=True)
                    except OSError as exc:
                        fake.tls_errors.append(str(exc))
                        return
                super().finish_request(request, client_address)

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that went away mid-answer (the reset and timeout cases)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}/fhir/R4/"
        self.token_url = f"{self.scheme}://127.0.0.1:{self.port}/oauth/token"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def posts(self) -> list[Req]:
        return [r for r in self.requests if not r.path.endswith("/token")]

    def fhir(self, req: Req) -> Reply:
        with self.lock:
            self.requests.append(req)
        if self.require_token and req.headers.get("authorization", "").removeprefix("Bearer ") not in self.valid_tokens:
            return 401, outcome("token missing, expired or revoked")
        reply = self.handler(req)
        return (200, transaction_response(req.json)) if reply is None else reply

    def token(self, req: Req) -> Reply:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        with self.lock:
            self.token_requests.append(form)
            n = len(self.token_requests)
        if form.get("grant_type") != "client_credentials" or form.get("client_id") != "vehicle-1" or \
                form.get("client_secret") != self.secret:
            return 401, {"error": "invalid_client", "error_description": "unknown client or bad secret"}
        token = f"token-{n}"
        self.valid_tokens.add(token)
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return 200, answer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeFhir]:
    f = FakeFhir()
    yield f
    f.close()


async def send_once(cfg: Config, record: Record) -> Result:
    target = make_target(cfg)
    await target.start()
    try:
        return await target.send(record)
    finally:
        await target.close()


# ------------------------------------------------------------------------------------------- status mapping

BUNDLE = encounter(3)


def _entry_failed(req: Req) -> Reply:
    answer = transaction_response(req.json)
    answer["entry"][1]["response"] = {"status": "400 Bad Request", "outcome": outcome("Patient.birthDate: bad")}
    return 200, answer


CASES: list[tuple[str, Callable[[Req], Reply], str, str]] = [
    ("200 transaction-response", lambda r: None, "ok", ""),
    ("201 batch-response", lambda r: (201, transaction_response(r.json) | {"type": "batch-response"}), "ok", ""),
    ("400 OperationOutcome", lambda r: (400, outcome("Observation.status: minimum required = 1")), "reject",
     "HTTP 400: Observation.status: minimum required = 1"),
    ("422", lambda r: (422, {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "invariant", "details": {"text": "obs-6 failed"}},
        {"severity": "error", "code": "invalid", "diagnostics": "bad unit"}]}), "reject", "obs-6 failed; bad unit"),
    ("500", lambda r: (500, outcome("database unavailable")), "retry", "HTTP 500: database unavailable"),
    ("502 html", lambda r: (502, "<html>Bad Gateway</html>"), "retry", "HTTP 502"),
    ("503", lambda r: (503, b""), "retry", "HTTP 503"),
    ("408", lambda r: (408, b""), "retry", "HTTP 408"),
    ("429", lambda r: (429, outcome("slow down")), "retry", "slow down"),
    ("401 without oauth", lambda r: (401, outcome("no credentials")), "retry", "records are kept"),
    ("403", lambda r: (403, outcome("not allowed")), "retry", "not allow"),
    ("404 wrong base url", lambda r: (404, "not found"), "retry", "check upstream.url"),
    ("409 version conflict", lambda r: (409, outcome("HAPI-0550: version conflict")), "retry", "conflict"),
    ("413", lambda r: (413, b""), "retry", "batch_size"),
    ("200 captive portal html", lambda r: (200, "<html>Sign in to Wi-Fi</html>"), "retry",
     "not a FHIR transaction-response (text/html)"),
    ("200 entries missing", lambda r: (200, {"resourceType": "Bundle", "type": "transaction-response", "entry": []}),
     "retry", "has 0 entries for 6 sent"),
    ("200 with an entry 400", _entry_failed, "reject", "entry 1: 400 Bad Request: Patient.birthDate: bad"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_answers_map_to_outcomes(fake: FakeFhir, case: tuple[str, Any, str, str]) -> None:
    _, handler, want, detail = case
    fake.handler = handler
    result = await send_once(config(fake.url), record_of(BUNDLE))
    assert result.outcome == want, result
    assert detail in result.detail
    assert "\n" not in result.detail and len(result.detail) <= 300
    assert result.status == int(case[0].split()[0])


async def test_request_shape(fake: FakeFhir) -> None:
    result = await send_once(config(fake.url), record_of(BUNDLE, key="enc-7d4f-v7"))
    assert result.outcome == "ok" and result.detail == "6 entries in 1 transaction(s)"
    (req,) = fake.posts
    assert req.path == "/fhir/R4"  # the base URL's trailing slash handled
    assert req.headers["content-type"] == FHIR_JSON and req.headers["accept"] == FHIR_JSON
    assert req.headers["x-request-id"] == "enc-7d4f-v7"
    assert req.json == BUNDLE  # a bundle that fits is sent as it is


async def test_timeout_reset_and_refused_are_retry(fake: FakeFhir) -> None:
    def slow(req: Req) -> Reply:
        time.sleep(1.0)
        return None

    fake.handler = slow
    t = time.monotonic()
    result = await send_once(config(fake.url, timeout_s=0.3), record_of(BUNDLE))
    assert result.outcome == "retry" and "no answer within 0.3 s" in result.detail
    assert time.monotonic() - t < 0.9

    fake.handler = lambda req: RESET  # the server took it and the answer was lost
    result = await send_once(config(fake.url), record_of(BUNDLE))
    assert result.outcome == "retry" and "connection lost" in result.detail, result

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    result = await send_once(config(f"http://127.0.0.1:{closed}/fhir"), record_of(BUNDLE))
    assert result.outcome == "retry" and "cannot connect" in result.detail, result


# ------------------------------------------------------------------------------------------- batching


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node["reference"]
        for v in node.values():
            yield from _references(v)
    elif isinstance(node, list):
        for v in node:
            yield from _references(v)


async def test_batching_splits_in_order_and_keeps_references_resolvable(fake: FakeFhir) -> None:
    bundle = encounter(7)
    assert len(bundle["entry"]) == 10
    result = await send_once(config(fake.url, batch_size=3), record_of(bundle, key="enc-x-v2"))
    assert result.outcome == "ok" and result.detail == "10 entries in 4 transaction(s)"
    posts = fake.posts
    assert [len(p.json["entry"]) for p in posts] == [3, 3, 3, 1]
    assert [p.headers["x-request-id"] for p in posts] == [f"enc-x-v2:{i}/4" for i in (1, 2, 3, 4)]
    sent = [e for p in posts for e in p.json["entry"]]
    assert [e["request"] for e in sent] == [e["request"] for e in bundle["entry"]]  # same order, same PUTs
    stored: set[str] = set()
    for p in posts:
        assert p.json["type"] == "transaction" and "id" not in p.json
        urls = {e["request"]["url"] for e in p.json["entry"]}
        for ref in _references(p.json):
            # every reference names a resource stored before or in this chunk, never a urn:uuid
            assert not ref.startswith("urn:uuid:") and ref in stored | urls, ref
        stored |= urls
    # apart from the references' spelling, the resources are the original ones
    by_urn = {e["fullUrl"]: e["request"]["url"] for e in bundle["entry"]}
    original = json.dumps([e["resource"] for e in bundle["entry"]])
    for urn, url in by_urn.items():
        original = original.replace(f'"reference": "{urn}"', f'"reference": "{url}"')
    assert json.dumps([e["resource"] for e in sent]) == original
    assert split_bundle(bundle, 10) == [bundle] and bundle == encounter(7)  # not modified in place


async def test_a_failed_chunk_is_retried_without_resending_confirmed_ones(fake: FakeFhir) -> None:
    failures = iter([False, False, True])

    def third_fails_once(req: Req) -> Reply:
        return (503, outcome("busy")) if next(failures, False) else None

    fake.handler = third_fails_once
    target = FhirTarget(config(fake.url, batch_size=3))
    await target.start()
    try:
        record = record_of(encounter(7))
        first = await target.send(record)
        assert first.outcome == "retry" and first.detail == "transaction 3 of 4: HTTP 503: busy"
        assert (await target.send(record)).outcome == "ok"
        ids = [p.headers["x-request-id"] for p in fake.posts]
        assert ids == ["enc-1-v1:1/4", "enc-1-v1:2/4", "enc-1-v1:3/4", "enc-1-v1:3/4", "enc-1-v1:4/4"]
    finally:
        await target.close()


# ------------------------------------------------------------------------------------------- TLS


@pytest.fixture
def tls_fake(tmp_path: Path) -> Iterator[tuple[FakeFhir, Any]]:
    cert = self_signed(tmp_path)
    f = FakeFhir(tls=server_context(cert))
    yield f, cert
    f.close()


async def test_pin_match_ok_and_mismatch_is_identity_before_any_request(tls_fake: tuple[FakeFhir, Any]) -> None:
    fake, cert = tls_fake
    wrong = "0f" * 32
    result = await send_once(config(fake.url, pin_sha256=wrong), record_of(BUNDLE))
    assert result == Result("identity", f"the target's certificate SHA-256 is {cert.sha256}, pinned {wrong}")
    assert fake.requests == []  # nothing was sent to the impostor

    assert (await send_once(config(fake.url, pin_sha256=cert.sha256), record_of(BUNDLE))).outcome == "ok"
    result = await send_once(config(fake.url), record_of(BUNDLE))  # no pin, system CAs: a self-signed cert fails
    assert result.outcome == "retry" and "certificate verify failed" in result.detail
    assert (await send_once(config(fake.url, ca_file=cert.cert), record_of(BUNDLE))).outcome == "ok"
    assert len(fake.posts) == 2


async def test_mtls_client_certificate(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    server_cert = self_signed(tmp_path)
    client = ca.issue(tmp_path, "vehicle", client=True)
    fake = FakeFhir(tls=server_context(server_cert, client_ca=ca.cert))
    try:
        pin = server_cert.sha256
        without = await send_once(config(fake.url, pin_sha256=pin), record_of(BUNDLE))
        assert without.outcome == "retry" and fake.posts == [], without
        with_cert = await send_once(config(fake.url, pin_sha256=pin, client_cert=client.cert,
                                           client_key=client.key), record_of(BUNDLE))
        assert with_cert.outcome == "ok" and len(fake.posts) == 1
        # an unreadable client certificate: start() does not raise, sends say why
        broken = await send_once(config(fake.url, pin_sha256=pin, client_cert=tmp_path / "missing.crt"),
                                 record_of(BUNDLE))
        assert broken.outcome == "retry" and "missing.crt" in broken.detail
    finally:
        fake.close()


# ------------------------------------------------------------------------------------------- OAuth2


def oauth(fake: FakeFhir, tmp_path: Path, secret: str = "s3cret\n", **kw: Any) -> Config:
    secret_file = tmp_path / "oauth.secret"
    secret_file.write_text(secret)
    return config(fake.url, oauth_token_url=kw.pop("token_url", fake.token_url), oauth_client_id="vehicle-1",
                  oauth_secret_file=secret_file, oauth_scope="system/*.write", **kw)


async def test_oauth_token_fetched_cached_and_refreshed_on_401(fake: FakeFhir, tmp_path: Path) -> None:
    fake.require_token = True
    target = FhirTarget(oauth(fake, tmp_path))
    await target.start()
    try:
        assert (await target.send(record_of(BUNDLE, "a"))).outcome == "ok"
        assert fake.token_requests == [{"grant_type": "client_credentials", "client_id": "vehicle-1",
                                        "client_secret": "s3cret", "scope": "system/*.write"}]
        assert fake.posts[0].headers["authorization"] == "Bearer token-1"
        assert (await target.send(record_of(BUNDLE, "b"))).outcome == "ok"
        assert len(fake.token_requests) == 1  # cached

        fake.valid_tokens.clear()  # the server revoked it: 401, one refresh, the chunk again
        assert (await target.send(record_of(BUNDLE, "c"))).outcome == "ok"
        assert len(fake.token_requests) == 2
        assert [p.headers["authorization"] for p in fake.posts[2:]] == ["Bearer token-1", "Bearer token-2"]

        fake.valid_tokens.clear()
        fake.secret = "rotated"  # our secret is now wrong: retry with a clear detail, never a dead letter
        result = await target.send(record_of(BUNDLE, "d"))
        assert result.outcome == "retry" and "refused the client credentials (HTTP 401: invalid_client" in \
            result.detail and "records are kept" in result.detail
    finally:
        await target.close()


async def test_oauth_token_expiry_and_separate_token_host(tls_fake: tuple[FakeFhir, Any], tmp_path: Path) -> None:
    fhir, cert = tls_fake  # pinned https FHIR server
    idp = FakeFhir()  # the token endpoint lives elsewhere (plain http on loopback): the pin is not applied to it
    try:
        fhir.require_token = True
        idp.expires_in = 1.0  # refreshed after half its life (the margin is at most half)
        fhir.valid_tokens = idp.valid_tokens
        target = FhirTarget(oauth(fhir, tmp_path, token_url=idp.token_url, pin_sha256=cert.sha256))
        await target.start()
        try:
            assert (await target.send(record_of(BUNDLE, "a"))).outcome == "ok"
            assert (await target.send(record_of(BUNDLE, "b"))).outcome == "ok"
            assert len(idp.token_requests) == 1
            time.sleep(0.6)
            assert (await target.send(record_of(BUNDLE, "c"))).outcome == "ok"
            assert len(idp.token_requests) == 2 and fhir.token_requests == []
        finally:
            await target.close()
        idp.close()  # the token host is down: retry, with the reason
        result = await send_once(oauth(fhir, tmp_path, token_url=idp.token_url, pin_sha256=cert.sha256),
                                 record_of(BUNDLE))
        assert result.outcome == "retry" and result.detail.startswith("OAuth2 token endpoint: cannot connect")
    finally:
        idp.close()


# ------------------------------------------------------------------------------------------- the real engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirEngine]:
    e = start_fhir_engine(tmp_path_factory.mktemp("fhir-engine"))
    yield e
    e.stop()


async def test_real_engine_through_a_flaky_link_stores_every_resource_once(engine: FhirEngine) -> None:
    engine.reset()
    bundle = encounter(33, devices=2)  # 38 entries: Patient, Encounter, 2 Devices, 33 Observations
    with FlakyHttpProxy(engine.url, seed=11, p_503=0.1, p_reset=0.1, p_lost=0.2) as link:
        # every kind of fault at least once, then the random ones
        link.plan(["lost", "503", "reset", "ok", "timeout", "lost", "lost"])
        target = FhirTarget(config(link.url, batch_size=10, timeout_s=0.5))
        await target.start()
        outcomes = []
        try:
            for _ in range(40):
                result = await target.send(record_of(bundle, key="enc-real-v1"))
                outcomes.append(result)
                if result.outcome == "ok":
                    break
        finally:
            await target.close()
        assert outcomes[-1].outcome == "ok" and all(r.outcome == "retry" for r in outcomes[:-1]), outcomes
        assert link.stats["lost"] >= 3 and link.stats["timeout"] == 1 and link.stats["reset"] >= 1
    want = collections.Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    assert engine.counts() == want  # resent and lost answers, yet nothing stored twice
    # the split bundle's references resolve to the stored Patient and Encounter
    patient, enc = (e["resource"]["id"] for e in bundle["entry"][:2])
    last = engine.read("Observation", bundle["entry"][-1]["resource"]["id"])
    assert last is not None and last["subject"]["reference"] == f"Patient/{patient}"
    assert last["encounter"]["reference"] == f"Encounter/{enc}"


async def test_real_engine_rejects_an_invalid_resource(engine: FhirEngine) -> None:
    engine.reset()
    bad = encounter(2)
    bad["entry"][3]["resource"]["status"] = "not-a-status"
    result = await send_once(config(engine.url), record_of(bad))
    assert result.outcome == "reject" and result.status == 400 and "not-a-status" in result.detail
    assert engine.counts() == {}  # the transaction was all or nothing


def test_make_target_picks_the_target() -> None:
    assert make_target(config("https://fhir.example/R4")).name == "fhir"
    mqtt_cfg = Config(db_path=Path("/x"), socket_path=Path("/y"), vehicle_id=VEHICLE,
                      upstream=UpstreamConfig(target="mqtt", url="mqtt://127.0.0.1:1883"))
    assert make_target(mqtt_cfg).name == "mqtt"
