"""The uplink's only way into the box: the daemon's API over the Unix socket, with the uplink token the
daemon leaves beside the socket (re-read when the daemon restarts and the old one stops working)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

from edge_app.client import BASE_URL
from edge_app.errors import ApiClientError
from edge_app.model.upstream import AckResult, OrderResult, OutboxBatch, OutboxPayload

T = TypeVar("T")

TOKEN_FILE = "uplink.token"


class DaemonUnavailable(ApiClientError):
    """No daemon, or not ready: wait and try again."""


class GateClosed(ApiClientError):
    """The daemon refused a payload because forwarding is closed (423)."""


class Gone(ApiClientError):
    """The entry is no longer in the outbox (confirmed, superseded, or dropped): nothing to do."""


class DaemonClient:
    def __init__(self, socket_path: Path, timeout: float = 30.0) -> None:
        self.socket_path = socket_path
        self.token_path = socket_path.with_name(TOKEN_FILE)
        self._token: str | None = None
        self._client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(socket_path)),
                                         base_url=BASE_URL, timeout=httpx.Timeout(timeout, connect=5.0))

    async def close(self) -> None:
        await self._client.aclose()

    def _read_token(self) -> str:
        try:
            token = self.token_path.read_text(encoding="ascii").strip()
        except OSError as exc:
            raise DaemonUnavailable(f"no uplink token at {self.token_path} ({exc.strerror or exc}): is the daemon "
                                    "running with an [upstream] table?") from None
        if not token:
            raise DaemonUnavailable(f"{self.token_path} is empty")
        return token

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        for attempt in (1, 2):
            if self._token is None or attempt == 2:
                self._token = self._read_token()
            try:
                r = await self._client.request(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kw)
            except (httpx.TransportError, OSError) as exc:
                raise DaemonUnavailable(f"cannot reach the daemon on {self.socket_path}: {exc}") from None
            if r.status_code != 401:
                break
        if r.status_code == 401:
            raise DaemonUnavailable("the daemon refused the uplink token (401); waiting for a new one")
        if r.status_code == 423:
            raise GateClosed(r.json().get("detail", "forwarding is closed"))
        if r.status_code == 404 and "/outbox/" in path:
            raise Gone(r.json().get("detail", "not in the outbox"))
        if r.status_code >= 500 or r.status_code == 503:
            raise DaemonUnavailable(f"{path}: {r.status_code} {r.text[:200]}")
        if r.status_code >= 400:
            raise ApiClientError(f"{path}: {r.status_code} {_detail(r)}")
        return r

    async def pending(self, limit: int, wait: float, after: int = 0) -> OutboxBatch:
        return _decode(await self.request("GET", "/api/v1/upstream/outbox",
                                          params={"limit": limit, "wait": wait, "after": after},
                                          timeout=wait + 30.0), OutboxBatch)

    async def payload(self, key: str) -> OutboxPayload:
        return _decode(await self.request("GET", f"/api/v1/upstream/outbox/{key}"), OutboxPayload)

    async def ack(self, key: str) -> str:
        return _decode(await self.request("POST", f"/api/v1/upstream/outbox/{key}/ack"), AckResult).result

    async def fail(self, key: str, error: str, status: int | None) -> None:
        await self.request("POST", f"/api/v1/upstream/outbox/{key}/fail", json={"error": error or "failed",
                                                                                 "status": status})

    async def dead(self, key: str, error: str, status: int | None) -> None:
        await self.request("POST", f"/api/v1/upstream/outbox/{key}/dead", json={"error": error or "refused",
                                                                                 "status": status})

    async def suspend(self, reason: str) -> None:
        await self.request("POST", "/api/v1/upstream/suspend", json={"reason": reason[:500]})

    async def order(self, doc: Any) -> OrderResult:
        """Hand the daemon a suspend order from the fleet; it checks the signature (ApiClientError if not)."""
        return _decode(await self.request("POST", "/api/v1/upstream/orders", json=doc), OrderResult)


def _decode(r: httpx.Response, typ: type[T]) -> T:
    """An answer as its record type; an answer that is not one is the daemon failing, not a record."""
    try:
        return msgspec.json.decode(r.content, type=typ)
    except msgspec.ValidationError as exc:
        raise ApiClientError(f"{r.request.url.path}: an answer that is not a {typ.__name__}: {exc}") from None


def _detail(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else r.text[:300]
