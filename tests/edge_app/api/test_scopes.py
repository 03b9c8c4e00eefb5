"""Who may call what: every route the app has, with every identity, answered as edge_app/auth/middleware.py
says today. 401 without a valid identity, 403 outside the token's scope, and otherwise neither (the
request may still be refused for its content: that is the other files' business).

MATRIX is written out by hand from today's rules, so a change to them shows up here as a diff, and
test_the_matrix_lists_every_route fails on a route nobody has decided about."""
from __future__ import annotations

import re
from typing import Any

import pytest

from tests.edge_app.api.conftest import IDENTITIES, Api

PUBLIC = frozenset({"none", "bad", "revoked", "expired", "crew", "uplink", "technician"})
EVERY_SCOPE = frozenset({"crew", "uplink", "technician"})
CREW = frozenset({"crew", "technician"})  # the crew's work and the records: never the uplink
UPLINK = frozenset({"uplink", "technician"})  # draining the outbox, stopping itself, passing on an order
TECHNICIAN = frozenset({"technician"})

E = "/api/v1/encounters"
EID = E + "/{encounter_id:str}"
U = "/api/v1/upstream"
MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/schema"): PUBLIC,
    ("GET", "/schema/openapi.json"): PUBLIC,
    ("GET", "/schema/openapi.yaml"): PUBLIC,
    ("GET", "/schema/openapi.yml"): PUBLIC,
    ("GET", "/schema/{path:str}"): PUBLIC,
    ("POST", "/api/v1/pair"): PUBLIC,
    ("GET", E): CREW,
    ("POST", E): CREW,
    ("GET", EID): CREW,
    ("PATCH", EID): CREW,
    ("POST", EID + "/times/{which:str}"): CREW,
    ("POST", EID + "/medications"): CREW,
    ("POST", EID + "/interventions"): CREW,
    ("POST", EID + "/notes"): CREW,
    ("GET", EID + "/events"): CREW,
    ("POST", EID + "/observations"): CREW,
    ("GET", EID + "/observations"): CREW,
    ("POST", EID + "/gcs"): CREW,
    ("GET", EID + "/news2"): CREW,
    ("GET", EID + "/vitals"): CREW,
    ("POST", EID + "/chart"): CREW,
    ("GET", EID + "/fhir"): CREW,
    ("GET", EID + "/handover"): CREW,
    ("GET", "/api/v1/observations"): CREW,
    ("GET", "/api/v1/devices"): CREW,
    ("GET", "/api/v1/status"): EVERY_SCOPE,
    ("GET", "/api/v1/stream"): CREW,
    ("GET", "/api/v1/tokens"): TECHNICIAN,
    ("DELETE", "/api/v1/tokens/{name:str}"): TECHNICIAN,
    ("POST", "/api/v1/pairing-codes"): TECHNICIAN,
    ("GET", U): EVERY_SCOPE,  # the status line
    ("POST", U + "/suspend"): UPLINK,
    ("POST", U + "/orders"): UPLINK,
    ("POST", U + "/resume"): TECHNICIAN,  # never the uplink: it may stop itself, not start
    ("GET", U + "/outbox"): UPLINK,
    ("GET", U + "/outbox/{key:str}"): UPLINK,
    ("POST", U + "/outbox/{key:str}/ack"): UPLINK,
    ("POST", U + "/outbox/{key:str}/fail"): UPLINK,
    ("POST", U + "/outbox/{key:str}/dead"): UPLINK,
    ("GET", U + "/dead-letters"): TECHNICIAN,
    ("POST", U + "/dead-letters/{key:str}/requeue"): TECHNICIAN,
    ("POST", U + "/sign"): TECHNICIAN,
}
STREAMS = {"/api/v1/stream"}
SCOPE_OF = {"crew": "crew", "uplink": "uplink", "technician": "technician"}


def app_routes(api: Api) -> set[tuple[str, str]]:
    """(method, path) of every handler; OPTIONS is answered from the schema for all of them."""
    return {(m, route.path) for route in api.app.routes for m in route.methods if m not in ("OPTIONS", "HEAD")}


def concrete(path: str, api: Api) -> str:
    """The route's path with its parameters filled in: a real encounter, a well-formed key."""
    eid = api.services.store.reader.encounters(limit=1)[0].id
    values = {"encounter_id": eid, "which": "at_scene", "key": f"enc-{eid}-v9", "name": "nobody",
              "path": "nothing-here"}
    return re.sub(r"\{(\w+):\w+\}", lambda m: values[m.group(1)], path)


@pytest.fixture(scope="module")
def matrix_api(shared_api: Api) -> Api:
    shared_api.encounter("INC-MATRIX")
    return shared_api


def test_the_matrix_lists_every_route(matrix_api: Api) -> None:
    routes = app_routes(matrix_api)
    assert routes - set(MATRIX) == set(), "a route the scope matrix does not list: decide who may call it"
    assert set(MATRIX) - routes == set(), "the matrix lists a route the app no longer has"


def test_the_matrix_lists_every_documented_operation(matrix_api: Api) -> None:
    schema = matrix_api.client.get("/schema/openapi.json").json()
    documented = {(m.upper(), p) for p, item in schema["paths"].items() for m in item
                  if m in ("get", "post", "put", "patch", "delete")}
    listed = {(m, re.sub(r"\{(\w+):\w+\}", r"{\1}", p)) for m, p in MATRIX if not p.startswith("/schema")}
    assert documented == listed


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_scope(matrix_api: Api, method: str, path: str, identity: str) -> None:
    allowed = MATRIX[(method, path)]
    if path in STREAMS and identity in allowed:  # an answer that never ends: read its start only
        with matrix_api.exchange(method, path, matrix_api.headers(identity)) as x:
            assert x.status == 200
        return
    r = matrix_api.client.request(method, concrete(path, matrix_api), headers=matrix_api.headers(identity))
    if identity in allowed:
        assert r.status_code not in (401, 403), r.text
        assert r.status_code < 500, r.text
    elif identity not in SCOPE_OF:
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == 'Bearer realm="edge-app"'
        assert "pair this tablet" in r.json()["detail"]
    else:
        assert r.status_code == 403, r.text
        assert r.json() == {"detail": f"a {SCOPE_OF[identity]} token may not do this"}


def test_every_scope_is_allowed_something_and_refused_something() -> None:
    """The matrix itself: no identity is allowed everything but the technician, none nothing."""
    for identity in IDENTITIES:
        allowed = [k for k, v in MATRIX.items() if identity in v]
        assert allowed, identity
        if identity != "technician":
            assert len(allowed) < len(MATRIX), identity
    assert all("technician" in v for v in MATRIX.values())


@pytest.mark.parametrize(("header", "status"), [
    ("Basic dXNlcjpwYXNz", 401),  # not a bearer token
    ("Bearer ", 401),
    ("Bearer", 401),
    ("bearer {crew}", 200),  # the scheme in any case
    ("Bearer   {crew}  ", 200),
])
def test_authorization_header_forms(matrix_api: Api, header: str, status: int) -> None:
    value = header.format(crew=matrix_api.tokens["crew"])
    r = matrix_api.client.get("/api/v1/status", headers={"Authorization": value})
    assert r.status_code == status, r.text


def request_from_unix_socket(api: Api, path: str, headers: dict[str, str] | None = None) -> Any:
    with api.exchange("GET", path, headers, client=("unix", 1000)) as x:
        return x.status, x.json()


def test_the_unix_socket_peer_is_a_technician(matrix_api: Api) -> None:
    status, tokens = request_from_unix_socket(matrix_api, "/api/v1/tokens")
    assert status == 200 and "tablet-crew" in [t["name"] for t in tokens]
    assert request_from_unix_socket(matrix_api, "/api/v1/upstream/dead-letters")[0] == 200


def test_a_token_on_the_unix_socket_is_held_to_its_scope(matrix_api: Api) -> None:
    assert request_from_unix_socket(matrix_api, "/api/v1/tokens", matrix_api.crew) == (
        403, {"detail": "a crew token may not do this"})
    status, body = request_from_unix_socket(matrix_api, "/api/v1/tokens", matrix_api.headers("revoked"))
    assert status == 401, body


def test_a_tcp_peer_without_a_token_is_nobody(matrix_api: Api) -> None:
    with matrix_api.exchange("GET", "/api/v1/status", client=("127.0.0.1", 5000)) as x:
        assert x.status == 401


@pytest.mark.parametrize("path", ["/api/v1//tokens", "/api/v1/tokens/", "/api//v1/tokens", "/api/v1/./tokens"])
def test_spellings_of_a_path_are_held_to_the_same_scope(matrix_api: Api, path: str) -> None:
    """The middleware matches path prefixes: a path the router normalises must not slip past it."""
    with matrix_api.exchange("GET", path, matrix_api.crew) as x:
        assert x.status in (403, 404), (x.status, x.body())
    with matrix_api.exchange("GET", path) as x:
        assert x.status in (401, 404), (x.status, x.body())


def test_the_uplink_token_reads_no_record(api: Api) -> None:
    """Issue 16, finding 1: the internet-facing uplink reaches the outbox, orders and status, nothing else;
    before, its token could read every record (open ones too, and while forwarding was suspended)."""
    eid = api.encounter()["id"]
    api.client.post(f"/api/v1/encounters/{eid}/observations", json={"metric": "spo2", "value": 96},
                    headers=api.crew)
    for path in ("", f"/{eid}", f"/{eid}/events", f"/{eid}/observations", f"/{eid}/news2", f"/{eid}/vitals",
                 f"/{eid}/fhir", f"/{eid}/handover"):
        r = api.client.get(f"/api/v1/encounters{path}", headers=api.uplink)
        assert r.status_code == 403, (path, r.status_code)
        assert list(r.json()) == ["detail"], r.text  # a refusal, no part of the record
    assert api.client.get("/api/v1/upstream", headers=api.uplink).status_code == 200
    assert api.client.get("/api/v1/status", headers=api.uplink).status_code == 200
