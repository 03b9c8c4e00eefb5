"""Every route says who may call it, deny by default, and docs/routes.md is the table the code makes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Controller, Litestar, get
from litestar.middleware.base import DefineMiddleware
from litestar.testing import TestClient

from edge_app.api.guards import CREW, EVERYONE, PUBLIC, TECHNICIAN, UPLINK, admits, scope_guard
from edge_app.api.routes import ROUTES, markdown, public_api_paths, route_scopes
from edge_app.auth.tokens import Principal

DOC = Path(__file__).resolve().parents[3] / "docs" / "routes.md"


def test_every_route_declares_its_scopes() -> None:
    undeclared = [f"{r.method} {r.path}" for r in route_scopes(ROUTES) if r.scopes is None]
    assert not undeclared, f"routes that declare no scopes (refused to everyone): {undeclared}"
    known = {CREW, EVERYONE, PUBLIC, TECHNICIAN, UPLINK}
    assert {r.scopes for r in route_scopes(ROUTES)} <= known


def test_the_route_table_in_the_docs_is_the_one_the_code_makes() -> None:
    assert DOC.read_text() == markdown(ROUTES), \
        "docs/routes.md is out of date: .venv/bin/python -m edge_app.api.routes > docs/routes.md"


def test_only_pairing_is_open_under_the_api_prefix() -> None:
    assert public_api_paths(ROUTES) == frozenset({"/api/v1/pair"})


class _As:
    """Middleware standing in for authentication: every request comes from this principal."""

    def __init__(self, app: Any, principal: Principal) -> None:
        self.app, self.principal = app, principal

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("state", {})["principal"] = self.principal
        await self.app(scope, receive, send)


class _Mixed(Controller):
    path = "/api/v1/demo"

    @get("/declared", opt=admits(CREW))
    async def declared(self) -> str:
        return "ok"

    @get("/undeclared")
    async def undeclared(self) -> str:
        return "should never be seen"


def _client(principal: Principal) -> TestClient[Litestar]:
    app = Litestar(route_handlers=[_Mixed], guards=[scope_guard],
                   middleware=[DefineMiddleware(_As, principal=principal)], openapi_config=None)
    return TestClient(app)


def test_a_route_without_a_declaration_is_refused_to_everyone() -> None:
    for scope in ("crew", "uplink", "technician"):
        with _client(Principal("t", scope)) as c:
            r = c.get("/api/v1/demo/undeclared")
            assert r.status_code == 403 and "declares no scopes" in r.json()["detail"]


def test_a_declared_route_admits_only_its_scopes() -> None:
    with _client(Principal("t", "crew")) as c:
        assert c.get("/api/v1/demo/declared").status_code == 200
    with _client(Principal("t", "uplink")) as c:
        r = c.get("/api/v1/demo/declared")
        assert r.status_code == 403 and r.json()["detail"] == "a uplink token may not do this"
