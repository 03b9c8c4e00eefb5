"""The published schema says every error the API can give, in the shape it gives it: {"detail", ...}."""
from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin

ERRORS = {
    "400": "malformed request (not JSON, not UTF-8, a bad header)",
    "401": "no valid token: pair first (POST /api/v1/pair); local users connect on the Unix socket",
    "403": "the token's scope does not allow this",
    "404": "no such record",
    "405": "method not allowed on this path",
    "409": "conflict: a stale If-Match version (the current record is in `current`), a closed record, a taken name",
    "413": "request body over 64 KiB",
    "422": "a value is wrong; `detail` names the field",
    "429": "too many wrong pairing codes; wait a minute",
    "503": "the store cannot write (disk full or failing); nothing was stored",
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "fields": {"type": "array", "items": {"type": "string"}},
        "current": {"type": "object"},
    },
}


def document_errors(app: Litestar) -> None:
    """Add the error responses to every /api/v1 operation of the (cached) schema the app serves."""
    schema = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for path, item in schema.get("paths", {}).items():
        if not path.startswith("/api/v1"):
            continue
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            if "/times/" in path and "requestBody" in op:
                op["requestBody"]["required"] = False  # a stamp with no body means "now"
            responses = op.setdefault("responses", {})
            for code, text in ERRORS.items():
                if code == "401" and path == "/api/v1/pair":
                    continue
                responses[code] = {"description": text, **ref}


def precise_request_schemas(app: Litestar, structs: list[type]) -> None:
    """Bodies described by msgspec itself: Litestar drops the constraints inside unions (a time is epoch ms
    or an ISO string with an offset), does not say that unknown fields are refused, and writes unions as
    oneOf, which a whole number (both integer and number) can never satisfy."""
    _, components = msgspec.json.schema_components(structs, ref_template="#/components/schemas/{name}")
    app.plugins.get(OpenAPIPlugin).provide_openapi_schema().setdefault("components", {}).setdefault(
        "schemas", {}).update(components)


class AllowFromSchema:
    """OPTIONS and 405 answers list exactly the methods the schema documents for the path (Litestar's own
    answer lists only the methods of the first handler registered for a path)."""

    def __init__(self, app: Any, litestar: Litestar) -> None:
        self.app = app
        self.routes: list[tuple[Any, str]] = []
        self._methods: list[tuple[str, frozenset[str]]] = []
        for path, item in litestar.plugins.get(OpenAPIPlugin).provide_openapi_schema().get("paths", {}).items():
            methods = sorted({m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")} | {"OPTIONS"})
            pattern = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "/?$")
            self.routes.append((pattern, ", ".join(methods)))
            self._methods.append((", ".join(methods), frozenset(methods)))
        # One regex for all paths, run once per request: the first path that matches wins (alternatives are
        # tried in order), and the number of the group that matched says which.
        self._match = re.compile("|".join(f"({p.pattern})" for p, _ in self.routes) or "(?!)").match

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (found := self._match(scope["path"])) is not None:
            allow, methods = self._methods[(found.lastindex or 1) - 1]
            method = scope["method"]
            if method == "OPTIONS":
                await _answer(send, 204, allow, b"")
                return
            if method not in methods:
                await _answer(send, 405, allow, b'{"detail":"method not allowed here; see the Allow header"}')
                return
        await self.app(scope, receive, send)


async def _answer(send: Any, status: int, allow: str, body: bytes) -> None:
    headers = [(b"allow", allow.encode()), (b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
