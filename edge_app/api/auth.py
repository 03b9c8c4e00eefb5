"""Pairing tablets and managing their tokens."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Parameter

from edge_app.api.common import actor_of, now_ms
from edge_app.api.context import AppContext
from edge_app.auth import tokens

TokenName = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$",
                                        description="a name for the tablet, e.g. 'tablet-rear'")]


class PairRequest(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    name: TokenName


class Paired(msgspec.Struct):
    token: str
    name: str
    scope: str
    expires_at: int


class CodeRequest(msgspec.Struct, forbid_unknown_fields=True):
    scope: Literal["crew", "technician", "uplink"] = "crew"


class PairingCode(msgspec.Struct):
    code: str
    scope: str
    expires_at: int
    url: str | None
    fingerprint: str | None


class Token(msgspec.Struct):
    name: str
    scope: str
    created_at: int
    expires_at: int
    revoked_at: int | None
    created_by: str


class AuthController(Controller):
    path = "/api/v1"
    tags = ["pairing"]

    @post("/pair", status_code=201, summary="Swap a one-time pairing code for a token (no auth needed)")
    async def pair(self, ctx: AppContext, data: PairRequest, request: Request[Any, Any, Any]) -> Paired:
        now = now_ms()
        if ctx.tokens.locked(now):
            raise ClientException(detail="too many wrong pairing codes; wait a minute and try again",
                                  status_code=429, headers={"Retry-After": "60"})
        client = request.scope.get("client")
        actor = f"pairing from {client[0]}" if client else "pairing"
        try:
            paired = await ctx.write(tokens.redeem_code(data.code, data.name.strip(), now, actor))
        except tokens.PairingError as exc:
            if "not valid" in str(exc):
                ctx.tokens.note_failure(now)
                raise ClientException(detail=str(exc), status_code=403) from None
            raise ClientException(detail=str(exc), status_code=409) from None
        ctx.tokens.add(tokens.digest(paired["token"]), paired["name"], paired["scope"], paired["expires_at"])
        return Paired(**paired)

    @post("/pairing-codes", status_code=201, summary="A one-time pairing code, valid 5 minutes (technician)")
    async def new_code(self, ctx: AppContext, request: Request[Any, Any, Any], data: CodeRequest) -> PairingCode:
        scope = data.scope
        code = await ctx.write(tokens.create_code(now_ms(), actor_of(request), scope))
        return PairingCode(code=code["code"], scope=scope, expires_at=code["expires_at"], url=ctx.tablet_url,
                           fingerprint=ctx.tls_fingerprint)

    @get("/tokens", summary="Paired tablets and other tokens (technician)", sync_to_thread=True)
    def list_tokens(self, ctx: AppContext) -> list[Token]:
        return [Token(**t) for t in tokens.list_tokens(ctx.reader.db)]

    @delete("/tokens/{name:str}", status_code=204, summary="Revoke a token at once (technician)")
    async def revoke(self, ctx: AppContext, name: Annotated[str, Parameter(max_length=40)],
                     request: Request[Any, Any, Any]) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.-]*", name):
            raise NotFoundException(detail=f"no token named {name!r}")
        ctx.tokens.remove(name)  # first: from this moment on it opens nothing
        if not await ctx.write(tokens.revoke(name, now_ms(), actor_of(request))):
            raise NotFoundException(detail=f"no active token named {name!r}")
