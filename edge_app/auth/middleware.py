"""Authentication and scopes for everything under /api/v1, as one ASGI middleware in front of the app."""
from __future__ import annotations

import json
import time
from typing import Any

from edge_app.auth.tokens import Principal, TokenRegistry

PUBLIC = {"/api/v1/pair"}
# What each scope may do; technicians (and local users on the Unix socket) may do everything.
UPLINK_ALLOWED = ("/api/v1/encounters", "/api/v1/status")
TECHNICIAN_ONLY = ("/api/v1/tokens", "/api/v1/pairing-codes")
UPSTREAM = "/api/v1/upstream"
# The uplink drains the outbox and may stop itself (a wrong TLS identity upstream) or pass on the fleet's
# signed suspend order (its authority is the signature), never resume.
UPLINK_UPSTREAM = (UPSTREAM + "/outbox", UPSTREAM + "/suspend", UPSTREAM + "/orders")


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


def allowed(principal: Principal, method: str, path: str) -> bool:
    if principal.scope == "technician":
        return True
    if path.startswith(TECHNICIAN_ONLY):
        return False
    if path == UPSTREAM or path.startswith(UPSTREAM + "/"):
        if path == UPSTREAM and method in ("GET", "HEAD"):
            return True  # the status line: everyone
        return principal.scope == "uplink" and path.startswith(UPLINK_UPSTREAM)
    if principal.scope == "uplink":
        return method in ("GET", "HEAD") and path.startswith(UPLINK_ALLOWED)
    return True


class AuthMiddleware:
    """401 without a valid identity, 403 outside the scope; the principal goes into scope["state"]."""

    def __init__(self, app: Any, registry: TokenRegistry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/v1") or scope["path"] in PUBLIC:
            await self.app(scope, receive, send)
            return
        principal = principal_of(scope, self.registry)
        if principal is None:
            await _deny(send, 401, "missing, expired or revoked token: pair this tablet (POST /api/v1/pair)")
            return
        if not allowed(principal, scope["method"], scope["path"]):
            await _deny(send, 403, f"a {principal.scope} token may not do this")
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
