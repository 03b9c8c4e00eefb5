"""Who is calling, for everything under /api/v1: one ASGI middleware in front of the app.

Authentication only: a caller with no valid identity gets 401 here (even on a path that does not exist,
so an unpaired device learns nothing of the API); what an identity may do is each route's own
declaration, checked by the app's guard (edge_app.api.guards).
"""
from __future__ import annotations

import json
import time
from typing import Any

from edge_app.auth.tokens import Principal, TokenRegistry


def principal_of(scope: dict[str, Any], registry: TokenRegistry) -> Principal | None:
    """Who is calling: the holder of a valid bearer token, else the Unix-socket peer. A token wins even on the
    socket, so a local process that presents one (the uplink) is held to that token's scope."""
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and token:
                return registry.check(token.strip(), time.time_ns() // 1_000_000)
            return None
    client = scope.get("client")
    if client and client[0] == "unix":
        return Principal(f"uid:{client[1]}", "technician")
    return None


class AuthMiddleware:
    """401 without a valid identity; the principal goes into scope["state"] for the guard and the audit log.
    public: the paths under /api/v1 whose routes admit anyone (the app lists them from its routes)."""

    def __init__(self, app: Any, registry: TokenRegistry, public: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.registry = registry
        self.public = public

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/v1") or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        principal = principal_of(scope, self.registry)
        if principal is None:
            await _deny(send, 401, "missing, expired or revoked token: pair this tablet (POST /api/v1/pair)")
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def _deny(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="edge-app"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
