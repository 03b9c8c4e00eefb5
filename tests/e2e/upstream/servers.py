"""Real upstream servers for the uplink's tests and benchmarks: a FHIR R4 engine and a mosquitto broker.

    engine = start_fhir_engine(tmp_path)                  # http://127.0.0.1:PORT/fhir/R4
    engine = start_fhir_engine(tmp_path, tls=make_self_signed_cert(tmp_path))   # https://...
    broker = start_mosquitto(tmp_path)                    # broker.host, broker.port; .restart()

The engine is tests/e2e/upstream/engine/server.mjs (Medplum 4.5.2 FhirRouter + an in-memory repository, see the
header comment there); its npm dependencies are installed on first use with `npm ci`.

Measured on the 2-core dev machine (Node 20.20, Medplum 4.5.2; `test_engine_figures` prints them again):
  * spawn to listening: 0.9-1.3 s (3.4 s with the machine loaded); loading the R4 definitions is most of it;
  * raw ingest, one PUT transaction Bundle of 3,600 Observations posted straight to the engine (validation
    included): 2,500-4,200 entries/s (0.85-1.4 s per bundle; the first one is slowest, JIT warm-up); the same
    with conditional creates (ifNoneExist on identifier): 2,700 entries/s new, 8,000+ entries/s re-sent;
    about half of all that under load from other test runs;
  * RSS: about 155 MiB idle, about 240 MiB holding 18,000 Observations.
"""
from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from tests.e2e.harness import wait_for
from tests.sysdeps import require_program

ENGINE_DIR = Path(__file__).resolve().parent / "engine"
FHIR_BASE_PATH = "/fhir/R4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), 0.2).close()
        return True
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------ TLS


class SelfSignedCert(NamedTuple):
    """A certificate for 127.0.0.1/localhost signed by its own key; `sha256` is of the DER form (for pinning).
    Pass it (or `(cert, key)`) as `tls=` to start_fhir_engine / start_mosquitto."""

    cert: Path
    key: Path
    sha256: str

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this certificate."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_self_signed_cert(directory: Path, name: str = "upstream", *, days: int = 30) -> SelfSignedCert:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    der = cert.public_bytes(serialization.Encoding.DER)
    return SelfSignedCert(cert_path, key_path, hashlib.sha256(der).hexdigest())


# ------------------------------------------------------------------------------------------------ FHIR engine


def _require_node() -> str:
    node = require_program("node", "nodejs")
    require_program("npm", "npm")
    return node


def ensure_engine_installed() -> None:
    """`npm ci` into tests/e2e/upstream/engine/node_modules when it is missing or package-lock.json changed."""
    lock = ENGINE_DIR / "package-lock.json"
    modules = ENGINE_DIR / "node_modules"
    stamp = modules / ".edge-app-lock.sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return
    _require_node()
    # Several workers (pytest and a benchmark) may start at once: one installs, the others wait.
    with open(ENGINE_DIR / ".npm-install.lock", "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        try:
            if stamp.exists() and stamp.read_text().strip() == digest:
                return
            r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ENGINE_DIR,
                               capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                raise RuntimeError(f"npm ci in {ENGINE_DIR} failed ({r.returncode}):\n{r.stdout[-2000:]}\n"
                                   f"{r.stderr[-4000:]}")
            stamp.write_text(digest + "\n")
        finally:
            fcntl.flock(lk, fcntl.LOCK_UN)


@dataclass
class FhirEngine:
    """A running server.mjs. `url` is the FHIR base (…/fhir/R4); the admin endpoints are at `admin_url`."""

    proc: subprocess.Popen[bytes]
    host: str
    port: int
    tls: SelfSignedCert | tuple[Any, ...] | None
    log: Path
    spawn_seconds: float
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._http = httpx.Client(verify=self.ssl_context() or True, timeout=60)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + FHIR_BASE_PATH

    @property
    def admin_url(self) -> str:
        return self.origin + "/_admin"

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=str(self.tls[0])) if self.tls else None

    def client(self, **kw: Any) -> httpx.Client:
        """An httpx client for the FHIR base (trusting the engine's own certificate when TLS)."""
        return httpx.Client(base_url=self.url, verify=self.ssl_context() or True, **{"timeout": 60, **kw})

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _admin(self, method: str, path: str) -> Any:
        r = self._http.request(method, f"{self.admin_url}/{path}")
        r.raise_for_status()
        return r.json()

    def counts(self) -> dict[str, int]:
        """{resourceType: number of current resources}; types with none are left out."""
        return self._admin("GET", "counts")

    def writes(self) -> dict[str, int]:
        """Counters: requests, write_requests, entries (bundle entries + single writes), transactions,
        batches, rollbacks, rejected (answers >= 400), versions (resource versions stored, net of
        rollbacks: a re-sent PUT leaves counts() alone but adds versions)."""
        return self._admin("GET", "writes")

    def request_log(self) -> list[dict[str, Any]]:
        """The last 1000 FHIR requests: [{method, url, status, entries}]."""
        return self._admin("GET", "log")

    def rss(self) -> int:
        """Resident memory of the engine process, bytes."""
        return int(self._admin("GET", "process")["rss"])

    def reset(self) -> None:
        """Empty the repository and the counters."""
        self._admin("POST", "reset")

    def search(self, resource_type: str, **params: Any) -> list[dict[str, Any]]:
        """All matching resources (follows the `next` links): search('Observation', _id='x'). A trailing
        underscore is dropped (Python keywords: `class_`); names with dashes: search(t, **{"based-on": r})."""
        query = {k[:-1] if k.endswith("_") and not k.startswith("_") else k: v for k, v in params.items()}
        query.setdefault("_count", 1000)
        url: str | None = f"{self.url}/{resource_type}"
        out: list[dict[str, Any]] = []
        first = True
        while url:
            r = self._http.get(url, params=query if first else None)
            if r.status_code != 200:
                raise AssertionError(f"search {resource_type} {query}: {r.status_code} {r.text[:500]}")
            bundle = r.json()
            out += [e["resource"] for e in bundle.get("entry", [])]
            url = next((lk["url"] for lk in bundle.get("link", []) if lk["relation"] == "next"), None)
            first = False
        return out

    def read(self, resource_type: str, rid: str) -> dict[str, Any] | None:
        r = self._http.get(f"{self.url}/{resource_type}/{rid}")
        return r.json() if r.status_code == 200 else None

    def stop(self) -> None:
        self._http.close()
        if self.proc.stdin:
            self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> FhirEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fhir_engine(tmp_path: Path, *, tls: SelfSignedCert | tuple[Any, ...] | None = None,
                      port: int = 0, timeout: float = 60.0) -> FhirEngine:
    """Start server.mjs on 127.0.0.1 (`port` 0 = a free one); `tls` = (cert_path, key_path[, ...]) for https.
    Ready when it printed `listening 127.0.0.1:PORT`. Its stdout+stderr go to tmp_path/fhir-engine-N.log."""
    node = _require_node()
    ensure_engine_installed()
    tmp_path.mkdir(parents=True, exist_ok=True)
    n = 0
    while (log := tmp_path / f"fhir-engine-{n}.log").exists():
        n += 1
    args = [node, str(ENGINE_DIR / "server.mjs"), "--host", "127.0.0.1", "--port", str(port),
            "--exit-with-stdin"]
    if tls:
        args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    t0 = time.monotonic()
    with open(log, "wb") as fh:
        # stdin is a pipe that only this process holds: when it dies without stop(), node sees EOF and exits.
        proc = subprocess.Popen(args, cwd=ENGINE_DIR, stdin=subprocess.PIPE, stdout=fh, stderr=fh,
                                start_new_session=True)

    def listening() -> str | bool:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("listening "):
                return line
        return proc.poll() is not None  # stop waiting when it died

    try:
        line = wait_for(listening, timeout, f"FHIR engine listening (log {log})")
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        raise
    if not isinstance(line, str):
        raise RuntimeError(f"FHIR engine exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
    host, _, p = line.split()[1].rpartition(":")
    return FhirEngine(proc, host, int(p), tls, log, time.monotonic() - t0)


# ------------------------------------------------------------------------------------------------ test data


def observation_bundle(n: int, *, prefix: str | None = None, patient_id: str | None = None,
                       method: str = "PUT") -> dict[str, Any]:
    """A transaction Bundle: one Patient and `n` heart-rate Observations with client ids (PUT) or
    conditional creates (method="POST": ifNoneExist on the identifier). Ids are `{prefix}-{i}`."""
    prefix = prefix or uuid.uuid4().hex[:12]
    pid = patient_id or f"{prefix}-pt"
    patient = {"resourceType": "Patient", "id": pid, "name": [{"family": "Rig", "given": ["Test"]}],
               "identifier": [{"system": "urn:edge-app:test", "value": pid}]}
    entries: list[dict[str, Any]] = [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": patient,
                                      "request": {"method": "PUT", "url": f"Patient/{pid}"}}]
    t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    for i in range(n):
        oid = f"{prefix}-{i}"
        obs = {
            "resourceType": "Observation",
            "identifier": [{"system": "urn:edge-app:test", "value": oid}],
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
            "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": (t0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            "valueQuantity": {"value": 60 + i % 40, "unit": "beats/minute",
                              "system": "http://unitsofmeasure.org", "code": "/min"},
        }
        if method == "PUT":
            obs["id"] = oid
            request = {"method": "PUT", "url": f"Observation/{oid}"}
        else:
            request = {"method": "POST", "url": "Observation",
                       "ifNoneExist": f"identifier=urn:edge-app:test|{oid}"}
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": obs, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def raw_ingest_rate(engine: FhirEngine, bundles: Iterable[dict[str, Any] | bytes]) -> float:
    """POST each transaction Bundle straight to the engine (no uplink, no faults); entries stored per second.
    Bundles may be dicts or already-encoded JSON bytes (encoding is then not timed)."""
    bodies = [b if isinstance(b, bytes) else json.dumps(b).encode() for b in bundles]
    entries = sum(len(json.loads(b)["entry"]) for b in bodies)
    with engine.client(timeout=300) as c:
        t0 = time.perf_counter()
        for body in bodies:
            r = c.post("", content=body, headers={"content-type": "application/fhir+json"})
            if r.status_code != 200:
                raise AssertionError(f"engine refused a bundle: {r.status_code} {r.text[:1000]}")
        elapsed = time.perf_counter() - t0
    return entries / elapsed


# ------------------------------------------------------------------------------------------------ mosquitto


@contextlib.contextmanager
def _no_service_start() -> Iterator[None]:
    """Debian maintainer scripts must not start the packaged mosquitto service (policy-rc.d exit 101)."""
    policy = Path("/usr/sbin/policy-rc.d")
    if policy.exists():
        yield
        return
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    try:
        yield
    finally:
        policy.unlink(missing_ok=True)


def require_mosquitto() -> str:
    path = shutil.which("mosquitto")
    if path:
        return path
    if os.access("/usr/sbin/mosquitto", os.X_OK):  # installed, but /usr/sbin is not on a non-root PATH
        return "/usr/sbin/mosquitto"
    if os.geteuid() == 0:
        with _no_service_start():
            return require_program("mosquitto", "mosquitto")
    return require_program("mosquitto", "mosquitto")  # fails naming the package


class Broker:
    """A mosquitto on 127.0.0.1 (per the rig recipe: persistence, `user` = the current user so that root can
    write the db, ready when a TCP connect succeeds). `tls` adds a second listener at `tls_port`."""

    def __init__(self, workdir: Path, *, tls: SelfSignedCert | tuple[Any, ...] | None = None) -> None:
        # Recipe copied from the design rig notes (RECIPES.md section 3 and its mqtt_mosquitto_demo.py,
        # kept beside the design documents, outside this repository; mosquitto 2.0.11, paho-mqtt 2.2).
        self.binary = require_mosquitto()
        self.host = "127.0.0.1"
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls = tls
        self.tls_port: int | None = free_port() if tls else None
        self.conf = workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {workdir}/",
            "autosave_interval 1",
            f"user {getpass.getuser()}",
            "log_dest stderr",
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "max_queued_messages 100000",
        ]
        if tls:
            lines += [f"listener {self.tls_port} {self.host}", f"certfile {tls[0]}", f"keyfile {tls[1]}"]
        self.conf.write_text("\n".join(lines) + "\n")
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 10.0) -> Broker:
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                         stdout=fh, stderr=fh, start_new_session=True)
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                return True  # died: stop waiting
            return _port_open(self.host, self.port) and (self.tls_port is None
                                                         or _port_open(self.host, self.tls_port))

        wait_for(ready, timeout, f"mosquitto on {self.port} (log {self.log})")
        if proc.poll() is not None:
            log = self.log.read_text(errors="replace")
            raise RuntimeError(f"mosquitto exited with {proc.returncode}:\n{log}")
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(10)

    def restart(self, kill: bool = False, down_for: float = 0.0) -> None:
        """Stop (SIGTERM saves the db; kill=True = crash) and start again on the same ports and db."""
        self.stop(kill=kill)
        if down_for:
            time.sleep(down_for)
        self.start()

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_mosquitto(tmp_path: Path, *, tls: SelfSignedCert | tuple[Any, ...] | None = None) -> Broker:
    return Broker(tmp_path, tls=tls).start()


class MqttCollector:
    """A persistent QoS 1 subscriber (clean_session=False, re-subscribes in on_connect, reconnects by itself)
    that collects (topic, payload) pairs. Talks to `port` (default broker.port; give a flaky proxy's)."""

    def __init__(self, broker: Broker, topic_filter: str, *, client_id: str | None = None,
                 port: int | None = None, tls: bool = False) -> None:
        import paho.mqtt.client as mqtt

        self._lock = threading.Lock()
        self._messages: list[tuple[str, bytes]] = []
        self._changed = threading.Condition(self._lock)
        self.topic_filter = topic_filter
        self.connects = 0
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"collector-{uuid.uuid4().hex[:8]}",
                                  clean_session=False, protocol=mqtt.MQTTv311)
        if tls:
            assert broker.tls, "tls=True needs a broker started with tls="
            self.client.tls_set_context(ssl.create_default_context(cafile=str(broker.tls[0])))
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=1)  # type: ignore[arg-type]  # floats work
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        host_port = port or (broker.tls_port if tls else broker.port)
        assert host_port is not None
        self.client.connect_async(broker.host, host_port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if not reason_code.is_failure:
            self.connects += 1
            client.subscribe(self.topic_filter, qos=1)  # always: a lost session drops the subscription

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._changed:
            self._messages.append((msg.topic, bytes(msg.payload)))
            self._changed.notify_all()

    @property
    def messages(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self._messages)

    def wait_subscribed(self, timeout: float = 10.0) -> MqttCollector:
        if not self.subscribed.wait(timeout):
            raise AssertionError(f"collector not subscribed to {self.topic_filter} within {timeout} s")
        return self

    def wait_for(self, n: int, timeout: float) -> list[tuple[str, bytes]]:
        """Wait until at least n messages arrived (duplicates count); returns them all."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"got {len(self._messages)} of {n} messages on {self.topic_filter} "
                                         f"within {timeout} s")
                self._changed.wait(left)
            return list(self._messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> MqttCollector:
        return self.wait_subscribed()

    def __exit__(self, *exc: object) -> None:
        self.close()
