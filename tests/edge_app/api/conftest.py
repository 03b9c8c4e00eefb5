"""The API in-process: the app the daemon serves, over a real store in tmp_path, through Litestar's test client.

ALL construction lives here (config, store, services, tokens, the app), built as the composition root
(edge_app.daemon.root) builds them, so that when the app's composition moves only this module changes. What tests get:

- ``api``: an :class:`Api`, built for the test. ``@pytest.mark.edge_config(upstream=True, ...)`` picks the
  config (see :func:`build`): with upstream, an ``[upstream]`` table, ``[appliance] vehicle_id`` and a trust
  key made by ``generate_keypair`` (its private half is ``api.authority``).
- ``shared_api``: one Api (with upstream) for a whole module, for tables of requests whose answers do not
  depend on what the other requests left behind (the scope matrix).
- ``client`` (the test client, no credentials), and bearer headers: ``crew``, ``uplink``, ``technician``,
  ``revoked``, ``expired``, ``bad_token`` (all of ``api``).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import secrets
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.exceptions import LitestarDeprecationWarning
from litestar.testing import TestClient

from edge_app.api.app import asgi_app
from edge_app.auth import tokens
from edge_app.config import parse
from edge_app.daemon.devices import DeviceSupervisor
from edge_app.model.observation import NewObservation
from edge_app.services.container import Services, build_services
from edge_app.store.access import Store
from edge_app.store.devices import upsert_device
from edge_app.store.observations import insert_device_observations
from edge_app.store.queries import Reader
from edge_app.store.writer import Writer
from edge_app.upstream.approval import generate_keypair, load_private_key

VEHICLE = "AMB-042"
# Every identity a request can come with; "none" sends no Authorization header at all.
IDENTITIES = ("none", "bad", "revoked", "expired", "crew", "uplink", "technician")
# The names the tokens are issued under (GET /api/v1/tokens lists them).
TOKEN_NAMES = {"crew": "tablet-crew", "technician": "laptop-technician", "uplink": "uplink",
               "revoked": "tablet-revoked", "expired": "tablet-expired"}
TIMEOUT_S = 5.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "edge_config(**options): options for build() (tests/edge_app/api)")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Api:
    """One app over one store, with the tokens the daemon would know."""

    client: TestClient[Any]
    services: Services
    app: Litestar  # the Litestar app inside what is served: its routes, its schema
    served: Any  # the ASGI app the daemon's servers run
    tokens: dict[str, str]  # identity -> the bearer token
    authority: Any = None  # the trust key's private half (Ed25519), with upstream
    root: Path = field(default_factory=Path)

    def headers(self, identity: str) -> dict[str, str]:
        return {} if identity == "none" else {"Authorization": f"Bearer {self.tokens[identity]}"}

    @property
    def crew(self) -> dict[str, str]:
        return self.headers("crew")

    @property
    def uplink(self) -> dict[str, str]:
        return self.headers("uplink")

    @property
    def technician(self) -> dict[str, str]:
        return self.headers("technician")

    def write(self, op: Any) -> Any:
        """Run a store op through the real writer (setting up what no route makes, e.g. device readings)."""
        return self.services.store.writer.submit(op).result(TIMEOUT_S)

    def device_readings(self, device: str, *readings: tuple[str, float, str]) -> list[int]:
        """(metric, value, unit) readings from a monitor, stored as the supervisor stores them: on the
        newest open encounter, or unassigned."""
        at = now_ms()
        ids = self.write(insert_device_observations([NewObservation(metric=m, value=v, unit=u, received_at=at,
                                                                    source="device", device=device)
                                                     for m, v, u in readings]))
        return list(ids)

    def encounter(self, incident_ref: str = "INC-1", **patch: Any) -> dict[str, Any]:
        """A new encounter (as the crew), with the patch applied if one is given."""
        r = self.client.post("/api/v1/encounters", json={"incident_ref": incident_ref}, headers=self.crew)
        assert r.status_code == 201, r.text
        doc: dict[str, Any] = r.json()
        if patch:
            r = self.client.patch(f"/api/v1/encounters/{doc['id']}", json=patch, headers=self.crew)
            assert r.status_code == 200, r.text
            doc = r.json()
        return doc

    def on_loop(self, fn: Any, *args: Any) -> Any:
        """Call fn on the app's event loop (the test client's portal) and return what it returns."""
        return self.client.blocking_portal.call(fn, *args)

    def exchange(self, method: str, path: str, headers: dict[str, str] | None = None, *, body: bytes = b"",
                 client: tuple[str, int] = ("127.0.0.1", 40000)) -> Exchange:
        """One request driven straight through the served ASGI app, its answer read message by message as
        it is sent (the test client buffers whole answers, and a stream never ends by itself), from any
        peer: ("unix", uid) is what the daemon's Unix socket reports."""
        return Exchange(self, method, path, headers or {}, body, client)


class Exchange:
    """See Api.exchange. Use as a context manager: leaving it hangs up and waits for the app to finish."""

    def __init__(self, api: Api, method: str, path: str, headers: dict[str, str], body: bytes,
                 client: tuple[str, int]) -> None:
        self._api = api
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._hangup = asyncio.Event()  # bound to the app's loop at its first wait(), on that loop
        path, _, query = path.partition("?")
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": query.encode(), "headers": [(b"host", b"edge-app"), *raw], "client": client,
                 "server": ("edge-app", 80)}
        self._done = api.client.blocking_portal.start_task_soon(self._run, scope, body)
        start = self._message()
        assert start is not None and start["type"] == "http.response.start", start
        self.status: int = start["status"]
        self.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", [])}
        self._text = ""
        self.ended = False

    async def _run(self, scope: dict[str, Any], body: bytes) -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await self._hangup.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            self._messages.put(message)

        try:
            await self._api.served(scope, receive, send)
        finally:
            self._messages.put(None)

    def _message(self, timeout: float = TIMEOUT_S) -> dict[str, Any] | None:
        try:
            return self._messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer from the app within {timeout} s") from None

    def _more(self, timeout: float) -> bool:
        """Take the next body part; false once the answer is complete."""
        if self.ended:
            return False
        message = self._message(timeout)
        if message is None or not message.get("more_body", False):
            self.ended = True
        if message is not None:
            self._text += message.get("body", b"").decode()
        return True

    def body(self, timeout: float = TIMEOUT_S) -> str:
        """The whole body (of an answer that ends by itself)."""
        while self._more(timeout):
            pass
        return self._text

    def json(self) -> Any:
        return json.loads(self.body())

    def event(self, timeout: float = TIMEOUT_S) -> tuple[str, Any, int | None]:
        """The next server-sent event: (event, data decoded from JSON, id)."""
        while True:
            text = self._text.replace("\r\n", "\n")
            block, sep, rest = text.partition("\n\n")
            if sep:
                self._text = rest
                fields: dict[str, list[str]] = {}
                for line in block.split("\n"):
                    if line and not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields.setdefault(name, []).append(value.removeprefix(" "))
                if "data" not in fields:
                    continue  # a comment or a keep-alive
                ids = fields.get("id", [""])
                return (fields.get("event", ["message"])[0], json.loads("\n".join(fields["data"])),
                        int(ids[0]) if ids[0].isdigit() else None)
            if not self._more(timeout):
                raise AssertionError(f"stream ended; left over: {self._text!r}")

    def close(self) -> None:
        self._api.on_loop(self._hangup.set)
        self._done.result(TIMEOUT_S)

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _issue_tokens(services: Services) -> dict[str, str]:
    """Tokens made by the real token code, known to the registry the middleware checks as the daemon knows
    them: paired tablets loaded at start, the uplink's minted at start, one revoked through the registry
    and the store as DELETE /api/v1/tokens does, one loaded while valid that has expired since."""
    now = now_ms()

    def write(op: Any) -> Any:
        return services.store.writer.submit(op).result(TIMEOUT_S)

    def pair(identity: str, scope: str, at: int) -> dict[str, Any]:
        code = write(tokens.create_code(at, "fixture", scope))["code"]
        return dict(write(tokens.redeem_code(code, TOKEN_NAMES[identity], at, "fixture")))

    issued = {"crew": pair("crew", "crew", now), "technician": pair("technician", "technician", now),
              "revoked": pair("revoked", "crew", now),
              "expired": pair("expired", "crew", now - tokens.TOKEN_TTL_MS["crew"] - 60_000)}
    services.tokens.load(services.store.reader.db, now)  # root.composed, at start
    up = write(tokens.issue_local("uplink", "uplink", now))  # root.write_uplink_token
    services.tokens.remove("uplink")
    services.tokens.add(up["hash"], "uplink", "uplink", up["expires_at"])
    issued["uplink"] = up
    services.tokens.remove(TOKEN_NAMES["revoked"])  # PairingService.revoke: the registry first, then the store
    assert write(tokens.revoke(TOKEN_NAMES["revoked"], now, "fixture"))
    expired = issued["expired"]
    services.tokens.add(tokens.digest(expired["token"]), TOKEN_NAMES["expired"], "crew", expired["expires_at"])
    out = {identity: str(t["token"]) for identity, t in issued.items()}
    out["bad"] = "ea1_" + secrets.token_urlsafe(32)  # well formed, never issued
    return out


@contextlib.contextmanager
def build(root: Path, *, upstream: bool = False, require_approval: bool = False, live_observations: bool = False,
          raw_series: bool = False,
          devices: tuple[tuple[str, str, str], ...] = ()) -> Iterator[Api]:
    """The app over a fresh store in root. upstream: an [upstream] fhir target (never contacted), the vehicle
    id and a trust key; devices: (name, protocol, port) monitors, configured but never started."""
    doc: dict[str, Any] = {"storage": {"path": "edge.db"}, "api": {"socket": "api.sock"},
                           "devices": [{"name": n, "protocol": p, "port": port} for n, p, port in devices]}
    authority = None
    if upstream:
        private, public = generate_keypair(root / "authority")
        authority = load_private_key(private)
        doc["appliance"] = {"vehicle_id": VEHICLE}
        doc["upstream"] = {"target": "fhir", "url": "http://127.0.0.1:9/fhir", "trust_keys": [public.name],
                           "require_approval": require_approval, "live_observations": live_observations,
                           "raw_series": raw_series}
    config = parse(doc, root / "config.toml")
    writer = Writer(config.db_path)
    reader = Reader(config.db_path)
    services = build_services(config, Store(writer, reader), started_ms=now_ms())
    try:
        for dev in config.devices:
            writer.submit(upsert_device(dev.name, dev.protocol, dev.port, dev.address, now_ms())).result(TIMEOUT_S)
            services.devices.add(dev.name, DeviceSupervisor(dev, writer, services.hub))
        issued = _issue_tokens(services)
        with warnings.catch_warnings():
            # Litestar 2.2x warns, once per handler and app, of what its 3.0 will need (body markers, named
            # dependencies): the app's business, said by every build; not this suite's to repeat per test.
            warnings.simplefilter("ignore", LitestarDeprecationWarning)
            warnings.filterwarnings("ignore", "Deprecated '", DeprecationWarning)
            served = asgi_app(services)
        app = served.app
        assert isinstance(app, Litestar)
        with TestClient(served, base_url="http://edge-app.local", timeout=TIMEOUT_S) as client:
            yield Api(client=client, services=services, app=app, served=served, tokens=issued, authority=authority, root=root)
    finally:
        services.hub.close()
        writer.close()
        reader.close()


@pytest.fixture
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    marker = request.node.get_closest_marker("edge_config")
    with build(tmp_path, **(marker.kwargs if marker else {})) as built:
        yield built


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with build(tmp_path_factory.mktemp("api"), upstream=True) as built:
        yield built


@pytest.fixture
def client(api: Api) -> TestClient[Any]:
    return api.client


@pytest.fixture
def crew(api: Api) -> dict[str, str]:
    return api.crew


@pytest.fixture
def uplink(api: Api) -> dict[str, str]:
    return api.uplink


@pytest.fixture
def technician(api: Api) -> dict[str, str]:
    return api.technician


@pytest.fixture
def revoked(api: Api) -> dict[str, str]:
    return api.headers("revoked")


@pytest.fixture
def expired(api: Api) -> dict[str, str]:
    return api.headers("expired")


@pytest.fixture
def bad_token(api: Api) -> dict[str, str]:
    return api.headers("bad")
