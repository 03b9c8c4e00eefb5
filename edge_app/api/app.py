"""The Litestar app factory."""
from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Litestar, MediaType, Request, Response
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from edge_app import __version__
from edge_app.api import schemas
from edge_app.api import auth as auth_api
from edge_app.api.auth import AuthController
from edge_app.api.context import AppContext
from edge_app.api.encounters import EncounterController
from edge_app.api.handover import HandoverController
from edge_app.api.openapi import AllowFromSchema, document_errors, precise_request_schemas
from edge_app.api.observations import EncounterObservationController, ObservationController
from edge_app.api.system import SystemController, healthz
from edge_app.api import upstream as upstream_api
from edge_app.api.upstream import UpstreamController
from edge_app.auth.middleware import AuthMiddleware
from edge_app.errors import StoreError

_LOGGER = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"detail": exc.detail}
    status = exc.status_code
    if isinstance(exc, ValidationException) and exc.extra:
        body["errors"] = exc.extra
        # Well-formed JSON with a wrong or missing field is 422 and names the field; unparseable stays 400.
        fields = [f"{e.get('source', '')}.{e.get('key', '')}".strip(".") for e in exc.extra
                  if isinstance(e, dict) and e.get("key")]
        if fields and isinstance(exc.extra, list):  # always a list here: iterating a dict gives no dicts
            status = 422
            body["detail"] = f"{exc.extra[0].get('message', 'invalid')} (field: {fields[0]})"
    elif isinstance(exc.extra, dict):
        body.update(exc.extra)
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=exc.headers)


def _store_error(_: Request[Any, Any, Any], exc: StoreError) -> Response[dict[str, Any]]:
    # The disk is full or failing: say so plainly; it is the box, not the caller.
    _LOGGER.error("store error answering a request: %s", exc)
    return Response({"detail": f"not stored: {exc}"}, status_code=503, media_type=MediaType.JSON)


def _bad_encoding(_: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[dict[str, Any]]:
    return Response({"detail": "request body is not UTF-8"}, status_code=400, media_type=MediaType.JSON)


def _crash(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    _LOGGER.exception("bug while answering a request")
    return Response({"detail": "internal error; see the daemon's log"}, status_code=HTTP_500_INTERNAL_SERVER_ERROR,
                    media_type=MediaType.JSON)


def create_app(ctx: AppContext) -> Litestar:
    """The API over one daemon's context."""
    app = Litestar(
        route_handlers=[healthz, EncounterController, EncounterObservationController, ObservationController,
                        HandoverController, SystemController, AuthController, UpstreamController],
        # AuthMiddleware is plain ASGI over dict scopes; litestar types the app it wants over its own TypedDicts
        middleware=[DefineMiddleware(AuthMiddleware, registry=ctx.tokens)],  # type: ignore[arg-type]
        dependencies={"ctx": Provide(lambda: ctx, sync_to_thread=False)},
        exception_handlers={HTTPException: _http_error, StoreError: _store_error,
                            UnicodeDecodeError: _bad_encoding, Exception: _crash},
        # JSON and YAML only: the HTML renderers load scripts from CDNs, which an offline box cannot reach
        # and a medical appliance should not call.
        openapi_config=OpenAPIConfig(title="edge-app", version=__version__, path="/schema",
                                     description="Local API of the ambulance patient-record appliance",
                                     render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()]),
        request_max_body_size=MAX_BODY,
        debug=False,
        logging_config=None,  # the daemon configures logging (journald priorities); Litestar must not
    )
    document_errors(app)
    structs = {id(o): o for o in [*vars(schemas).values(), *vars(auth_api).values(),
                                               *vars(upstream_api).values()]
               if isinstance(o, type) and issubclass(o, msgspec.Struct) and o is not msgspec.Struct}
    precise_request_schemas(app, list(structs.values()))
    return app


def asgi_app(ctx: AppContext) -> Any:
    """What the servers run: the app, with OPTIONS answered from its schema."""
    app = create_app(ctx)
    return AllowFromSchema(app, app)
