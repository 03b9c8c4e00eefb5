"""Who may call each route: every route declares the scopes it admits, beside its own code.

A route declares them with `opt=admits(...)` (or its controller's `opt`); the one guard below reads the
declaration and refuses everyone else: 403 for a caller outside the scopes, and 403 for everyone on a
route that declares nothing (deny by default: tests/edge_app/api/test_guards.py fails if one exists).
Technicians (and local users on the Unix socket, who count as technicians) are admitted by name like any
other scope, so a table of route -> scopes (docs/routes.md, made from the app) is the whole story.
"""
from __future__ import annotations

from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

Scope = Literal["crew", "technician", "uplink", "public"]
SCOPES_KEY = "scopes"
PUBLIC: frozenset[str] = frozenset({"public"})  # no identity needed (pairing itself, health, the schema)
TECHNICIAN: frozenset[str] = frozenset({"technician"})
CREW: frozenset[str] = frozenset({"crew", "technician"})  # the crew's routes (technicians may do everything)
UPLINK: frozenset[str] = frozenset({"uplink", "technician"})  # the outbox: the uplink process
EVERYONE: frozenset[str] = frozenset({"crew", "technician", "uplink"})  # any valid identity


def admits(scopes: frozenset[str]) -> dict[str, Any]:
    """A route's or controller's `opt`: the scopes that may call it."""
    return {SCOPES_KEY: scopes}


def is_allow_answer(handler: BaseRouteHandler) -> bool:
    """Litestar's own OPTIONS handler, made for every path: it answers 204 with the Allow header and nothing
    else. The servers answer OPTIONS before the app (api.openapi.AllowFromSchema), so it is never reached
    there; it admits anyone so the app alone answers the same."""
    fn = getattr(handler, "fn", None)
    return getattr(handler, "http_methods", None) == {"OPTIONS"} and getattr(fn, "__name__", "") == "options_handler"


def scopes_of(handler: BaseRouteHandler) -> frozenset[str] | None:
    """What a route declares (its own, else its controller's); None: nothing, so nobody may call it."""
    got = handler.opt.get(SCOPES_KEY)
    if isinstance(got, frozenset):
        return got
    return PUBLIC if is_allow_answer(handler) else None


def scope_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The one guard of the app: the caller's scope must be one the route admits."""
    scopes = scopes_of(handler)
    if scopes is None:
        raise PermissionDeniedException(detail="this route declares no scopes: it is open to nobody")
    if scopes is PUBLIC or "public" in scopes:
        return
    principal = connection.scope.get("state", {}).get("principal")
    if principal is None:
        raise NotAuthorizedException(detail="missing, expired or revoked token: pair this tablet (POST /api/v1/pair)")
    if principal.scope not in scopes:
        raise PermissionDeniedException(detail=f"a {principal.scope} token may not do this")
