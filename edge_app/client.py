"""A client of the daemon's API over its Unix socket (the CLI's live commands and the TUI use it)."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from edge_app.errors import ApiClientError

BASE_URL = "http://edge-app"


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


def _detail(r: httpx.Response) -> str:
    try:
        return str(r.json().get("detail", r.text))
    except (ValueError, AttributeError):
        return r.text[:200]


async def sse_events(client: httpx.AsyncClient, path: str = "/api/v1/stream",
                     last_event_id: int | None = None) -> AsyncIterator[tuple[str, dict[str, Any], int | None]]:
    """(event, data, id) from a server-sent-event stream until the server closes it."""
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
                    try:
                        yield event, json.loads("\n".join(data)), eid
                    except ValueError:
                        pass
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
                elif field == "id" and value.isdigit():
                    eid = int(value)
