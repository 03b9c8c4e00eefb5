"""A client of the daemon's API over its Unix socket (the CLI's live commands and the TUI use it)."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

from edge_app.errors import ApiClientError
from edge_app.model.events import StreamEvent, decode_event

BASE_URL = "http://edge-app"
T = TypeVar("T")


def _unreachable(socket_path: Path, exc: Exception) -> ApiClientError:
    if not socket_path.exists():
        return ApiClientError(f"the daemon is not running (no socket at {socket_path}); start it with "
                              "`systemctl start edge-app` or `edge-app run`")
    return ApiClientError(f"cannot reach the daemon on {socket_path}: {exc}")


def sync_client(socket_path: Path, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), base_url=BASE_URL, timeout=timeout)


def async_client(socket_path: Path, timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(socket_path)), base_url=BASE_URL,
                             timeout=timeout)


def get_json(socket_path: Path, path: str, **params: Any) -> Any:
    """One GET; ApiClientError with a plain reason when the daemon is down or says no."""
    try:
        with sync_client(socket_path) as c:
            r = c.get(path, params=params)
    except (httpx.TransportError, OSError) as exc:
        raise _unreachable(socket_path, exc) from None
    if r.status_code >= 400:
        raise ApiClientError(f"{path}: {r.status_code} {_detail(r)}")
    return r.json()


def call(socket_path: Path, method: str, path: str, *, timeout: float = 5.0, **kw: Any) -> httpx.Response:
    """One request; ApiClientError with the daemon's own words (its "detail") on a 4xx/5xx or when it is down."""
    try:
        with sync_client(socket_path, timeout=timeout) as c:
            r = c.request(method, path, **kw)
    except (httpx.TransportError, OSError) as exc:
        raise _unreachable(socket_path, exc) from None
    if r.status_code >= 400:
        raise ApiClientError(_detail(r))
    return r


def call_as(socket_path: Path, typ: type[T], method: str, path: str, *, timeout: float = 5.0, **kw: Any) -> T:
    """One request whose answer is a record of type typ; ApiClientError as call() gives, or for another answer."""
    r = call(socket_path, method, path, timeout=timeout, **kw)
    try:
        return msgspec.json.decode(r.content, type=typ)
    except msgspec.ValidationError as exc:
        raise ApiClientError(f"{path}: the daemon answered something unexpected: {exc}") from None


def _detail(r: httpx.Response) -> str:
    try:
        return str(r.json().get("detail", r.text))
    except (ValueError, AttributeError):
        return r.text[:200]


async def stream_events(client: httpx.AsyncClient, last_event_id: int | None = None
                        ) -> AsyncIterator[tuple[StreamEvent, int | None]]:
    """(event, id) from the daemon's live stream, typed, until the server closes it; events of a kind this
    client does not know (a newer daemon) are skipped."""
    async for _kind, raw, eid in _sse(client, "/api/v1/stream", last_event_id):
        event = decode_event(raw)
        if event is not None:
            yield event, eid


async def sse_events(client: httpx.AsyncClient, path: str = "/api/v1/stream",
                     last_event_id: int | None = None) -> AsyncIterator[tuple[str, dict[str, Any], int | None]]:
    """(event, data, id) from a server-sent-event stream until the server closes it."""
    async for kind, raw, eid in _sse(client, path, last_event_id):
        try:
            yield kind, json.loads(raw), eid
        except ValueError:
            pass


async def _sse(client: httpx.AsyncClient, path: str, last_event_id: int | None
               ) -> AsyncIterator[tuple[str, str, int | None]]:
    """(event, raw data, id) of each message of a server-sent-event stream."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    async with client.stream("GET", path, headers=headers, timeout=httpx.Timeout(5.0, read=None)) as resp:
        if resp.status_code != 200:
            raise ApiClientError(f"{path}: {resp.status_code}")
        data: list[str]
        event, data, eid = "message", [], None
        async for line in resp.aiter_lines():
            if line == "":
                if data:
                    yield event, "\n".join(data), eid
                event, data, eid = "message", [], None
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    event = value
                elif field == "data":
                    data.append(value)
                elif field == "id" and (value.isascii() and value.isdigit()):
                    eid = int(value)
