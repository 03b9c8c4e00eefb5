"""Pairing: a one-time code swapped for a token (no auth needed), codes, and the list of tokens."""
from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from edge_app.api.common import actor_of
from edge_app.api.guards import PUBLIC, TECHNICIAN, admits
from edge_app.model.requests import CodeRequest, PairRequest
from edge_app.model.system import Paired, PairingCode, Token
from edge_app.services.pairing import PairingService


class AuthController(Controller):
    path = "/api/v1"
    tags = ["pairing"]
    opt = admits(TECHNICIAN)

    @post("/pair", status_code=201, summary="Swap a one-time pairing code for a token (no auth needed)",
          opt=admits(PUBLIC))
    async def pair(self, pairing: PairingService, data: PairRequest, request: Request[Any, Any, Any]) -> Paired:
        client = request.scope.get("client")
        return await pairing.pair(data.code, data.name, f"pairing from {client[0]}" if client else "pairing")

    @post("/pairing-codes", status_code=201, summary="A one-time pairing code, valid 5 minutes (technician)")
    async def new_code(self, pairing: PairingService, request: Request[Any, Any, Any],
                       data: CodeRequest) -> PairingCode:
        return await pairing.new_code(data.scope, actor_of(request))

    @get("/tokens", summary="Paired tablets and other tokens (technician)", sync_to_thread=True)
    def list_tokens(self, pairing: PairingService) -> list[Token]:
        return pairing.list()

    @delete("/tokens/{name:str}", status_code=204, summary="Revoke a token at once (technician)")
    async def revoke(self, pairing: PairingService, name: Annotated[str, Parameter(max_length=40)],
                     request: Request[Any, Any, Any]) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.-]*", name):
            raise NotFoundException(detail=f"no token named {name!r}")
        if not await pairing.revoke(name, actor_of(request)):
            raise NotFoundException(detail=f"no active token named {name!r}")
