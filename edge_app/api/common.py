"""Small things every controller needs: ids, clock, who is asking, the store's errors as HTTP errors."""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from litestar import Request
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Parameter

from edge_app.errors import NotFoundError
from edge_app.store.encounters import RecordClosed, VersionConflict

T = TypeVar("T")
UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
EncounterId = Annotated[str, Parameter(pattern=UUID_RE, max_length=36, description="encounter id (UUID)")]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def actor_of(request: Request[Any, Any, Any]) -> str:
    """Who is asking, for the audit log: the token's name, or uid:N for a local user on the Unix socket."""
    principal = request.scope.get("state", {}).get("principal")
    if principal is not None:
        return str(principal.name)
    client = request.scope.get("client")
    return f"tcp:{client[0]}" if client else "local"


def store_call(fn: Callable[[], T]) -> T:
    """Run a read; a missing record is a 404."""
    try:
        return fn()
    except NotFoundError as exc:
        raise NotFoundException(detail=str(exc)) from None


async def store_write(fn: Callable[[], Awaitable[T]], current: Callable[[], Any] | None = None) -> T:
    """Run a write; missing -> 404, stale version -> 409 with the current record, closed -> 409."""
    try:
        return await fn()
    except NotFoundError as exc:
        raise NotFoundException(detail=str(exc)) from None
    except VersionConflict as exc:
        extra = {"fields": exc.fields, "current": current() if current else exc.current}
        raise ClientException(detail=str(exc), status_code=409, extra=extra) from None
    except RecordClosed as exc:
        raise ClientException(detail=str(exc), status_code=409) from None
