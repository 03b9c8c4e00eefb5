"""The API's routes, and the scopes each admits read off its own declaration (docs/routes.md is made here).

    .venv/bin/python -m edge_app.api.routes > docs/routes.md
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from litestar import Litestar

from edge_app.api.auth import AuthController
from edge_app.api.encounters import EncounterController
from edge_app.api.guards import PUBLIC, is_allow_answer, scopes_of
from edge_app.api.handover import HandoverController
from edge_app.api.observations import EncounterObservationController, ObservationController
from edge_app.api.system import SystemController, healthz
from edge_app.api.upstream import UpstreamController

ROUTES: list[Any] = [healthz, EncounterController, EncounterObservationController, ObservationController,
                     HandoverController, SystemController, AuthController, UpstreamController]

ORDER = ("public", "crew", "uplink", "technician")


@dataclass(frozen=True, slots=True)
class RouteScopes:
    method: str
    path: str
    scopes: frozenset[str] | None  # None: the route declares nothing, so nobody may call it
    summary: str


def route_scopes(routes: Sequence[Any]) -> list[RouteScopes]:
    """(method, path, scopes) of every HTTP route the handlers make, by path then method."""
    # A throwaway app, only to read its routes; logging_config=None, or Litestar would configure the root
    # logger and every daemon log line would print a second time in its own format (not journald's).
    app = Litestar(route_handlers=list(routes), openapi_config=None, logging_config=None)
    out = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if is_allow_answer(handler):
                continue  # Litestar's OPTIONS answer on every path: see guards.is_allow_answer
            for method in sorted(getattr(handler, "http_methods", ())):
                out.append(RouteScopes(method, route.path, scopes_of(handler), handler.summary or ""))
    return sorted(out, key=lambda r: (r.path, r.method))


def public_api_paths(routes: Sequence[Any]) -> frozenset[str]:
    """The /api/v1 paths whose every route admits anyone: the middleware asks no identity there."""
    by_path: dict[str, list[RouteScopes]] = {}
    for r in route_scopes(routes):
        by_path.setdefault(r.path, []).append(r)
    return frozenset(p for p, rs in by_path.items() if p.startswith("/api/v1") and all(r.scopes == PUBLIC for r in rs))


def _words(scopes: frozenset[str] | None) -> str:
    if scopes is None:
        return "**nobody** (no declaration)"
    return ", ".join(s for s in ORDER if s in scopes)


def markdown(routes: Sequence[Any]) -> str:
    """The route -> scopes table as docs/routes.md holds it."""
    lines = ["# Routes and who may call them", "",
             "Made from the app's own route declarations by `.venv/bin/python -m edge_app.api.routes > "
             "docs/routes.md`; a test fails when this file and the code differ. Scopes: `crew` (a paired "
             "tablet), `uplink` (the forwarder's token), `technician` (a technician's token, or any local "
             "user on the Unix socket), `public` (no identity needed). Any other caller gets 401 (no valid "
             "identity) or 403 (outside the scopes).", "",
             "| method | path | who | what |", "|---|---|---|---|"]
    lines += [f"| {r.method} | `{r.path}` | {_words(r.scopes)} | {r.summary} |" for r in route_scopes(routes)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown(ROUTES))
