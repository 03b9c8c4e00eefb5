"""Small things every controller needs: the id parameters, and who is asking."""
from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.params import Parameter

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
EncounterId = Annotated[str, Parameter(pattern=UUID_RE, max_length=36, description="encounter id (UUID)")]


def actor_of(request: Request[Any, Any, Any]) -> str:
    """Who is asking, for the audit log: the token's name, or uid:N for a local user on the Unix socket."""
    principal = request.scope.get("state", {}).get("principal")
    if principal is not None:
        return str(principal.name)
    client = request.scope.get("client")
    return f"tcp:{client[0]}" if client else "local"


def is_uplink(request: Request[Any, Any, Any]) -> bool:
    """Whether the caller holds the uplink's token (it sees the outbox only while forwarding is open)."""
    principal = request.scope.get("state", {}).get("principal")
    return principal is not None and principal.scope == "uplink"
