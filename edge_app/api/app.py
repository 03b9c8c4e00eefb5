"""The Litestar app factory: the routes over one daemon's services, every route behind the scope guard."""
from __future__ import annotations

from types import ModuleType
from typing import Any

import msgspec
from litestar import Litestar, Router
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin

from edge_app import __version__
from edge_app.api.errors import HANDLERS
from edge_app.api.guards import PUBLIC, admits, scope_guard
from edge_app.api.openapi import AllowFromSchema, document_errors, precise_request_schemas
from edge_app.api.routes import ROUTES, public_api_paths
from edge_app.auth.middleware import AuthMiddleware
from edge_app.model import devices, encounter, events, news2, observation, requests, system, upstream
from edge_app.services.container import Services

MAX_BODY = 64 * 1024
_SCHEMA_MODULES: list[ModuleType] = [devices, encounter, events, news2, observation, requests, system, upstream]


def _provide(value: Any) -> Provide:
    return Provide(lambda: value, sync_to_thread=False, use_cache=True)


def create_app(services: Services) -> Litestar:
    """The API over one daemon's services."""
    s = services
    app = Litestar(
        route_handlers=ROUTES,
        guards=[scope_guard],
        # AuthMiddleware is plain ASGI over dict scopes; litestar types the app it wants over its own TypedDicts
        middleware=[DefineMiddleware(AuthMiddleware, registry=s.tokens,  # type: ignore[arg-type]
                                     public=public_api_paths(ROUTES))],
        dependencies={"encounters": _provide(s.encounters), "observations": _provide(s.observations),
                      "vitals": _provide(s.vitals), "handover": _provide(s.handover),
                      "upstream": _provide(s.upstream), "pairing": _provide(s.pairing),
                      "system": _provide(s.status), "live": _provide(s.stream), "devices": _provide(s.devices)},
        exception_handlers=HANDLERS,
        # JSON and YAML only: the HTML renderers load scripts from CDNs, which an offline box cannot reach
        # and a medical appliance should not call. The schema documents the API: anyone may read it.
        openapi_config=OpenAPIConfig(title="edge-app", version=__version__, path="/schema",
                                     description="Local API of the ambulance patient-record appliance",
                                     render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()],
                                     openapi_router=Router("/schema", route_handlers=[], include_in_schema=False,
                                                           opt=admits(PUBLIC))),
        request_max_body_size=MAX_BODY,
        debug=False,
        logging_config=None,  # the daemon configures logging (journald priorities); Litestar must not
    )
    document_errors(app)
    structs = {id(o): o for m in _SCHEMA_MODULES for o in vars(m).values()
               if isinstance(o, type) and issubclass(o, msgspec.Struct) and o is not msgspec.Struct}
    precise_request_schemas(app, list(structs.values()))
    return app


def asgi_app(services: Services) -> Any:
    """What the servers run: the app, with OPTIONS answered from its schema."""
    app = create_app(services)
    return AllowFromSchema(app, app)
