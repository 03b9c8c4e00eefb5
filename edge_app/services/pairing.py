"""Pairing tablets: one-time codes swapped for named, scoped tokens; listing and revoking them."""
from __future__ import annotations

from dataclasses import dataclass

from edge_app.auth import tokens
from edge_app.clock import now_ms
from edge_app.errors import Conflict, Denied, TooManyTries
from edge_app.model.system import Paired, PairingCode, Token
from edge_app.store.access import Store


@dataclass(slots=True)
class TabletListener:
    """Where tablets connect and the certificate they should see (set once the daemon's listener is up)."""

    url: str | None = None  # https://HOST:PORT when the tablet listener is on
    fingerprint: str | None = None


class PairingService:
    def __init__(self, store: Store, registry: tokens.TokenRegistry, listener: TabletListener) -> None:
        self.store = store
        self.registry = registry
        self.listener = listener

    async def pair(self, code: str, name: str, via: str) -> Paired:
        """Swap a valid unused code for a token; wrong codes count towards a lockout of everyone."""
        now = now_ms()
        if self.registry.locked(now):
            raise TooManyTries("too many wrong pairing codes; wait a minute and try again", retry_after_s=60)
        try:
            paired = await self.store.write(tokens.redeem_code(code, name.strip(), now, via))
        except tokens.CodeNotValid as exc:
            self.registry.note_failure(now)
            raise Denied(str(exc)) from None
        except tokens.NameTaken as exc:
            raise Conflict(str(exc)) from None
        self.registry.add(tokens.digest(paired["token"]), paired["name"], paired["scope"], paired["expires_at"])
        return Paired(**paired)

    async def new_code(self, scope: str, actor: str) -> PairingCode:
        """A one-time pairing code, valid 5 minutes, with where to connect."""
        code = await self.store.write(tokens.create_code(now_ms(), actor, scope))
        return PairingCode(code=code["code"], scope=scope, expires_at=code["expires_at"], url=self.listener.url,
                           fingerprint=self.listener.fingerprint)

    def list(self) -> list[Token]:
        """Every token (call on a reader thread)."""
        return [Token(**t) for t in tokens.list_tokens(self.store.reader.db)]

    async def revoke(self, name: str, actor: str) -> bool:
        """Cut a token off at once: from the registry first, so from this moment on it opens nothing."""
        self.registry.remove(name)
        return bool(await self.store.write(tokens.revoke(name, now_ms(), actor)))
