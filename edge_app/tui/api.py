"""The TUI's calls to the daemon over its Unix socket, with every failure turned into words for the crew."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from edge_app.client import async_client


class ApiProblem(Exception):
    """A call that did not do what was asked; `str()` is the sentence to show."""

    def __init__(self, words: str, status: int | None = None, body: dict[str, Any] | None = None) -> None:
        super().__init__(words)
        self.status = status
        self.body = body or {}

    @property
    def conflict(self) -> bool:
        """A 409 that carries the current record: someone else changed a field first."""
        return self.status == 409 and "current" in self.body


def problem_words(status: int, body: dict[str, Any]) -> str:
    """One line a paramedic can act on, from an API error."""
    detail = str(body.get("detail") or "no reason given")
    if status == 422:
        return f"not saved, a value is wrong: {detail}"
    if status == 409:
        return f"not saved: {detail}"
    if status == 404:
        return f"not found: {detail}"
    return f"the daemon refused ({status}): {detail}"


class Api:
    """One short-lived connection per call, so a daemon restart never leaves a dead client behind."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    async def call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                   version: int | None = None) -> Any:
        """JSON (or text) of a 2xx answer; ApiProblem with the reason otherwise."""
        headers = {"If-Match": f'"{version}"'} if version is not None else None
        try:
            async with async_client(self.socket_path) as client:
                r = await client.request(method, f"/api/v1{path}", json=json, params=params, headers=headers)
        except (httpx.HTTPError, OSError):
            raise ApiProblem("the daemon is not reachable; try again in a moment") from None
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = {"detail": r.text[:200]}
            raise ApiProblem(problem_words(r.status_code, body), r.status_code, body)
        if r.headers.get("content-type", "").startswith("text/"):
            return r.text
        return r.json() if r.content else None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params or None)

    async def post(self, path: str, json: Any = None) -> Any:
        return await self.call("POST", path, json=json)

    async def patch(self, path: str, json: Any, version: int | None) -> Any:
        return await self.call("PATCH", path, json=json, version=version)
