"""Every refusal as the API gives it: JSON {"detail": ...} with the status that says what kind it is."""
from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from edge_app.errors import Conflict, Denied, InvalidInput, Locked, NotFoundError, Refused, StoreError, TooManyTries
from edge_app.services.encounters import RecordConflict

_LOGGER = logging.getLogger(__name__)
# The most specific class of a refusal decides (a RecordConflict is a Conflict with the current record).
STATUS: dict[type[Exception], int] = {InvalidInput: 422, Conflict: 409, Denied: 403, Locked: 423, TooManyTries: 429,
                                      NotFoundError: 404}


def _source(source: Any) -> str:
    """Where a refused value came from ("body", "query", "header"...): Litestar gives its ParamType enum
    for parameters and a plain string for bodies; the enum's str() is "ParamType.QUERY", its value "query"."""
    return str(getattr(source, "value", source) or "")


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    body: dict[str, Any] = {"detail": exc.detail}
    status = exc.status_code
    if isinstance(exc, ValidationException) and exc.extra:
        body["errors"] = exc.extra
        # Well-formed JSON with a wrong or missing field is 422 and names the field; unparseable stays 400.
        fields = [f"{_source(e.get('source'))}.{e.get('key', '')}".strip(".") for e in exc.extra
                  if isinstance(e, dict) and e.get("key")]
        if fields and isinstance(exc.extra, list):  # always a list here: iterating a dict gives no dicts
            status = 422
            body["detail"] = f"{exc.extra[0].get('message', 'invalid')} (field: {fields[0]})"
    elif isinstance(exc.extra, dict):
        body.update(exc.extra)
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=exc.headers)


def refused(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A use case said no: its kind is the status, its message the detail."""
    status = next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), 400)  # the most specific wins
    body: dict[str, Any] = {"detail": str(exc)}
    headers = None
    if isinstance(exc, RecordConflict):
        body.update(fields=exc.fields, current=msgspec.to_builtins(exc.current))
    if isinstance(exc, TooManyTries):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return _json(body, status, headers)


def store_error(_: Request[Any, Any, Any], exc: StoreError) -> Response[Any]:
    # The disk is full or failing: say so plainly; it is the box, not the caller.
    _LOGGER.error("store error answering a request: %s", exc)
    return _json({"detail": f"not stored: {exc}"}, 503)


def bad_encoding(_: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[Any]:
    return _json({"detail": "request body is not UTF-8"}, 400)


def crash(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    _LOGGER.exception("bug while answering a request")
    return _json({"detail": "internal error; see the daemon's log"}, HTTP_500_INTERNAL_SERVER_ERROR)


HANDLERS: ExceptionHandlersMap = {HTTPException: http_error, Refused: refused, NotFoundError: refused,
                                           StoreError: store_error, UnicodeDecodeError: bad_encoding,
                                           Exception: crash}
