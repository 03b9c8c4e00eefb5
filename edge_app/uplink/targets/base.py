"""What the uplink loop hands a target, what it gets back, and the interface every target implements."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

DETAIL_MAX = 300


@dataclass(frozen=True, slots=True)
class Record:
    key: str  # idempotency key, unique per outbox entry, e.g. "enc-<uuid>-v7" or "obs-<first>-<last>"
    kind: str  # "encounter" | "observations"
    encounter_id: str
    body: dict[str, Any]  # a FHIR R4 transaction Bundle (both targets carry this)


@dataclass(frozen=True, slots=True)
class Result:
    """ok: the target confirmed it; retry: try again later; reject: the target refused this record
    (dead letter); identity: the target's TLS certificate is not the pinned one (suspend forwarding)."""

    outcome: Literal["ok", "retry", "reject", "identity"]
    detail: str = ""  # one line, at most DETAIL_MAX characters: shown to technicians
    status: int | None = None  # HTTP status when there was one


class Target(Protocol):
    name: str  # "fhir" | "mqtt"

    async def start(self) -> None:
        """Prepare; connecting lazily is fine. Never raises because the server is down."""

    async def send(self, record: Record) -> Result:
        """Deliver one record; called concurrently (up to in_flight). Never raises for network or server
        trouble: that is a Result."""

    async def close(self) -> None:
        """Release connections and threads."""


def one_line(text: str, limit: int = DETAIL_MAX) -> str:
    """Collapse whitespace (newlines included) and cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_exc(exc: BaseException) -> str:
    """An exception and its causes as one readable line ("ConnectError: ... <- SSLCertVerificationError: ...")."""
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen and len(parts) < 4:
        seen.add(id(cur))
        text = str(cur) or type(cur).__name__
        if not parts or text not in parts[-1]:
            parts.append(f"{type(cur).__name__}: {text}" if str(cur) else type(cur).__name__)
        cur = cur.__cause__ or cur.__context__
    return one_line(" <- ".join(parts))
