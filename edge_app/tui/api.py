"""The TUI's calls to the daemon over its Unix socket, with every failure turned into words for the crew."""
from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

from edge_app.client import async_client
from edge_app.model.encounter import Encounter

T = TypeVar("T")


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

    @property
    def current(self) -> Encounter:
        """The record as it is now, from a conflict's answer."""
        return msgspec.convert(self.body["current"], Encounter)

    @property
    def fields(self) -> list[str]:
        """The fields someone else changed, from a conflict's answer."""
        return [str(f) for f in self.body.get("fields", [])]


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
        r = await self._request(method, path, json=json, params=params, version=version)
        if r.headers.get("content-type", "").startswith("text/"):
            return r.text
        return r.json() if r.content else None

    async def typed(self, typ: type[T], method: str, path: str, *, json: Any = None,
                    params: dict[str, Any] | None = None, version: int | None = None) -> T:
        """A 2xx answer as its record type; ApiProblem otherwise (also for an answer that is not one)."""
        if isinstance(json, msgspec.Struct):
            json = msgspec.to_builtins(json)
        r = await self._request(method, path, json=json, params=params, version=version)
        try:
            return msgspec.json.decode(r.content, type=typ)
        except msgspec.ValidationError as exc:
            raise ApiProblem(f"the daemon answered something unexpected: {exc}") from None

    async def _request(self, method: str, path: str, *, json: Any, params: dict[str, Any] | None,
                       version: int | None) -> httpx.Response:
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
        return r

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params or None)

    async def post(self, path: str, json: Any = None) -> Any:
        return await self.call("POST", path, json=json)

    async def get_as(self, typ: type[T], path: str, **params: Any) -> T:
        return await self.typed(typ, "GET", path, params=params or None)

    async def post_as(self, typ: type[T], path: str, json: Any = None) -> T:
        return await self.typed(typ, "POST", path, json=json)

    async def patch_encounter(self, path: str, json: Any, version: int | None) -> Encounter:
        return await self.typed(Encounter, "PATCH", path, json=json, version=version)
