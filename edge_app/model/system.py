"""The daemon's own state, pairing, and offline-bundle signatures, as the API answers them."""
from __future__ import annotations

from typing import Literal

import msgspec

from edge_app.model.devices import Device


class Health(msgspec.Struct, frozen=True):
    status: Literal["ok"]


class StoreState(msgspec.Struct, frozen=True):
    path: str
    batches: int
    ops: int
    last_error: str | None


class Status(msgspec.Struct, frozen=True):
    version: str
    started_at: int
    devices: list[Device]
    store: StoreState
    counts: dict[str, int]
    active_encounter: str | None
    upstream: str
    summary: str


class Paired(msgspec.Struct, frozen=True):
    token: str
    name: str
    scope: str
    expires_at: int


class PairingCode(msgspec.Struct, frozen=True):
    code: str
    scope: str
    expires_at: int
    url: str | None
    fingerprint: str | None


class Token(msgspec.Struct, frozen=True):
    name: str
    scope: str
    created_at: int
    expires_at: int
    revoked_at: int | None
    created_by: str


class Signed(msgspec.Struct, frozen=True):
    manifest: str  # the exact text that was signed: write it as manifest.json byte for byte
    signature: str
    public_key: str
    fingerprint: str
