"""Pairing codes and tokens: generated here, stored only as hashes, checked in memory on every request."""
from __future__ import annotations

import hashlib
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from edge_app.store.audit import append_audit

SCOPES = ("crew", "technician", "uplink")
# Crockford base32 without I, L, O, U: nothing to misread off a screen in a moving vehicle.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10  # 50 bits: with 5 guesses a minute, about 4e8 years for an even chance
CODE_TTL_MS = 5 * 60 * 1000
TOKEN_TTL_MS = {"crew": 30 * 86_400_000, "technician": 7 * 86_400_000, "uplink": 365 * 86_400_000}
MAX_FAILURES_PER_MINUTE = 5


class PairingError(Exception):
    """A pairing attempt refused; str() is safe to show the caller."""


class CodeNotValid(PairingError):
    """The code is wrong, used or expired (one answer for all three: a guesser learns nothing); counts
    towards the lockout."""


class NameTaken(PairingError):
    """Another paired tablet has the name; the code is not used up."""


class PairingLocked(PairingError):
    """Too many wrong codes in the last minute."""


def digest(secret: str) -> str:
    """The stored form of a code or token (they are long and random: a fast hash is enough)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """Accept what a person types: any case, spaces or dashes, O for 0, I/L for 1."""
    c = code.upper().replace(" ", "").replace("-", "")
    return c.translate(str.maketrans("OIL", "011"))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's name and scope, or a local user over the Unix socket."""

    name: str
    scope: str


class TokenRegistry:
    """The live set of valid token hashes; every change goes through here, so revocation is immediate."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_hash: dict[str, tuple[str, str, int]] = {}  # hash -> (name, scope, expires_at)
        self._failures: deque[int] = deque()

    def load(self, db: sqlite_utils.Database, now_ms: int) -> None:
        rows = db.execute("SELECT hash, name, scope, expires_at FROM tokens WHERE revoked_at IS NULL "
                          "AND expires_at > ?", (now_ms,)).fetchall()
        with self._lock:
            self._by_hash = {h: (n, s, e) for h, n, s, e in rows}

    def check(self, token: str, now_ms: int) -> Principal | None:
        h = digest(token)
        with self._lock:
            hit = self._by_hash.get(h)
        if hit is None or hit[2] <= now_ms:
            return None
        return Principal(hit[0], hit[1])

    def add(self, h: str, name: str, scope: str, expires_at: int) -> None:
        with self._lock:
            self._by_hash[h] = (name, scope, expires_at)

    def remove(self, name: str) -> None:
        with self._lock:
            self._by_hash = {h: v for h, v in self._by_hash.items() if v[0] != name}

    def note_failure(self, now_ms: int) -> None:
        with self._lock:
            self._failures.append(now_ms)

    def locked(self, now_ms: int) -> bool:
        """Five wrong codes within a minute lock pairing for everyone until the minute has passed."""
        with self._lock:
            while self._failures and self._failures[0] <= now_ms - 60_000:
                self._failures.popleft()
            return len(self._failures) >= MAX_FAILURES_PER_MINUTE


def create_code(now_ms: int, actor: str, scope: str = "crew") -> Callable[[sqlite_utils.Database], dict[str, Any]]:
    """A one-time pairing code, valid 5 minutes."""

    def op(db: sqlite_utils.Database) -> dict[str, Any]:
        code = new_code()
        db.execute("INSERT INTO pairing_codes (hash, scope, created_at, expires_at, created_by) VALUES (?,?,?,?,?)",
                   (digest(code), scope, now_ms, now_ms + CODE_TTL_MS, actor))
        append_audit(db, now_ms, actor, "pairing.code", None, {"scope": scope})
        return {"code": code, "scope": scope, "expires_at": now_ms + CODE_TTL_MS}

    return op


def redeem_code(code: str, name: str, now_ms: int, actor: str) -> Callable[[sqlite_utils.Database], dict[str, Any]]:
    """Swap a valid unused code for a new named token (PairingError says why not)."""

    def op(db: sqlite_utils.Database) -> dict[str, Any]:
        h = digest(normalise_code(code))
        row = db.execute("SELECT scope, expires_at, used_at FROM pairing_codes WHERE hash = ?", (h,)).fetchone()
        # Same answer for unknown, used and expired: the caller learns nothing to narrow a guess.
        if row is None or row[2] is not None or row[1] <= now_ms:
            raise CodeNotValid("pairing code not valid (wrong, used or expired)")
        if db.execute("SELECT 1 FROM tokens WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone():
            raise NameTaken(f"a tablet named {name!r} is already paired; choose another name or revoke it")
        db.execute("UPDATE pairing_codes SET used_at = ? WHERE hash = ?", (now_ms, h))
        token = "ea1_" + secrets.token_urlsafe(32)
        scope = row[0]
        expires = now_ms + TOKEN_TTL_MS[scope]
        db.execute("DELETE FROM tokens WHERE name = ? AND revoked_at IS NOT NULL", (name,))
        db.execute("INSERT INTO tokens (name, scope, hash, created_at, expires_at, created_by) VALUES (?,?,?,?,?,?)",
                   (name, scope, digest(token), now_ms, expires, actor))
        append_audit(db, now_ms, actor, "token.create", None, {"name": name, "scope": scope})
        return {"token": token, "name": name, "scope": scope, "expires_at": expires}

    return op


def revoke(name: str, now_ms: int, actor: str) -> Callable[[sqlite_utils.Database], bool]:
    def op(db: sqlite_utils.Database) -> bool:
        cur = db.execute("UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (now_ms, name))
        if cur.rowcount:
            append_audit(db, now_ms, actor, "token.revoke", None, {"name": name})
        return bool(cur.rowcount)

    return op


def list_tokens(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [{"name": r[0], "scope": r[1], "created_at": r[2], "expires_at": r[3], "revoked_at": r[4],
             "created_by": r[5]}
            for r in db.execute("SELECT name, scope, created_at, expires_at, revoked_at, created_by FROM tokens "
                                "ORDER BY created_at")]


def issue_local(name: str, scope: str, now_ms: int) -> Callable[[sqlite_utils.Database], dict[str, Any]]:
    """A fresh token for a local service (the uplink), replacing any earlier one of that name: the daemon
    mints it at each start and hands it over in a 0600 file beside the API socket."""

    def op(db: sqlite_utils.Database) -> dict[str, Any]:
        token = "ea1_" + secrets.token_urlsafe(32)
        expires = now_ms + TOKEN_TTL_MS[scope]
        db.execute("DELETE FROM tokens WHERE name = ?", (name,))
        db.execute("INSERT INTO tokens (name, scope, hash, created_at, expires_at, created_by) VALUES (?,?,?,?,?,?)",
                   (name, scope, digest(token), now_ms, expires, "edge-app"))
        append_audit(db, now_ms, "edge-app", "token.create", None, {"name": name, "scope": scope})
        return {"token": token, "name": name, "scope": scope, "expires_at": expires, "hash": digest(token)}

    return op
