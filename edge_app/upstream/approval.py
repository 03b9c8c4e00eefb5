"""Reconnection approvals: a small JSON document signed (Ed25519) by the authority's key.

After an attack or an outage, a trust may require that no vehicle reconnects until it says so. The
authority signs, for one vehicle, a validity window; `edge-app upstream resume --approval FILE` hands
it to the daemon, which checks it against `upstream.trust_keys`. The file:

    {"approval": {"type": "edge-app-upstream-approval", "vehicle": "AMB-042",
                  "not_before": "2026-11-23T10:00:00Z", "not_after": "2026-11-24T10:00:00Z",
                  "issued_by": "EOC duty manager", "id": "<uuid>"},
     "signature": "<base64 of Ed25519 over the canonical JSON of approval>"}

Canonical JSON: keys sorted, no spaces, UTF-8. The "type" field keeps a signature made for anything
else (an offline bundle, say) from passing as an approval.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge_app.model.upstream import ApprovalSummary

APPROVAL_TYPE = "edge-app-upstream-approval"
MAX_WINDOW = timedelta(days=366)


class ApprovalError(ValueError):
    """Why an approval is refused, in words a technician can act on."""


@dataclass(frozen=True, slots=True)
class Approval:
    vehicle: str
    not_before_ms: int
    not_after_ms: int
    issued_by: str
    approval_id: str
    key_fingerprint: str  # SHA-256 of the raw public key that signed it

    def valid_at(self, now_ms: int) -> bool:
        return self.not_before_ms <= now_ms <= self.not_after_ms

    def summary(self) -> ApprovalSummary:
        """What the gate keeps of the approval with the resume it opened."""
        return ApprovalSummary(vehicle=self.vehicle, not_before_ms=self.not_before_ms, not_after_ms=self.not_after_ms,
                               issued_by=self.issued_by, approval_id=self.approval_id,
                               key_fingerprint=self.key_fingerprint)


def canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file ("-----BEGIN PUBLIC KEY-----"); ApprovalError otherwise."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ApprovalError(f"trust key {path}: cannot read: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise ApprovalError(f"trust key {path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ApprovalError(f"trust key {path}: not an Ed25519 key")
    return key


def parse_time(value: Any, name: str, where: str = "approval") -> int:
    if not isinstance(value, str):
        raise ApprovalError(f"{where}.{name}: expected an ISO 8601 time like 2026-11-23T10:00:00Z")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApprovalError(f"{where}.{name}: {value!r} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        raise ApprovalError(f"{where}.{name}: {value!r} has no time zone (add Z for UTC)")
    return int(t.timestamp() * 1000)


def check_signed(doc: Any, field: str, trust_keys: list[Ed25519PublicKey]) -> tuple[dict[str, Any], Ed25519PublicKey]:
    """{field: {...}, "signature": "..."} -> (the signed body, the trusted key that signed it)."""
    if not isinstance(doc, dict) or set(doc) != {field, "signature"}:
        raise ApprovalError(f"not {_an(field)} file: expected {{\"{field}\": {{...}}, \"signature\": \"...\"}}")
    body, sig = doc[field], doc["signature"]
    if not isinstance(body, dict) or not isinstance(sig, str):
        raise ApprovalError(f"not {_an(field)} file: {field} must be an object and signature a string")
    try:
        signature = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        raise ApprovalError("signature is not base64") from None
    if not trust_keys:
        raise ApprovalError(f"no trust keys configured (upstream.trust_keys): no {field} can be checked")
    data = canonical(body)
    for key in trust_keys:
        try:
            key.verify(signature, data)
        except InvalidSignature:
            continue
        return body, key
    known = ", ".join(key_fingerprint(k) for k in trust_keys)
    raise ApprovalError(f"{field} refused: it is not signed by a trusted key (changed, or signed by a key "
                        f"that is not in upstream.trust_keys; trusted: {known})")


def _an(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def verify(doc: Any, trust_keys: list[Ed25519PublicKey], vehicle: str, now_ms: int) -> Approval:
    """The approval if it is well formed, signed by one of trust_keys, for this vehicle and valid now."""
    body, signer = check_signed(doc, "approval", trust_keys)
    if body.get("type") != APPROVAL_TYPE:
        raise ApprovalError(f"approval refused: type is {body.get('type')!r}, not {APPROVAL_TYPE!r}")
    if body.get("vehicle") != vehicle:
        raise ApprovalError(f"approval refused: it is for vehicle {body.get('vehicle')!r}, this is {vehicle!r}")
    start, end = parse_time(body.get("not_before"), "not_before"), parse_time(body.get("not_after"), "not_after")
    if end <= start or end - start > MAX_WINDOW.total_seconds() * 1000:
        raise ApprovalError("approval refused: its validity window is empty or longer than a year")
    if now_ms < start:
        raise ApprovalError(f"approval refused: not valid before {body['not_before']} (box clock: {iso(now_ms)})")
    if now_ms > end:
        raise ApprovalError(f"approval refused: expired at {body['not_after']} (box clock: {iso(now_ms)})")
    return Approval(vehicle=vehicle, not_before_ms=start, not_after_ms=end, issued_by=str(body.get("issued_by", "")),
                    approval_id=str(body.get("id", "")), key_fingerprint=key_fingerprint(signer))


def sign(key: Ed25519PrivateKey, vehicle: str, not_before: datetime, not_after: datetime,
         issued_by: str) -> dict[str, Any]:
    """What the authority's `edge-app upstream approve` writes."""
    body = {"type": APPROVAL_TYPE, "vehicle": vehicle, "not_before": iso_dt(not_before),
            "not_after": iso_dt(not_after), "issued_by": issued_by, "id": str(uuid.uuid4())}
    return {"approval": body, "signature": base64.b64encode(key.sign(canonical(body))).decode()}


def generate_keypair(stem: Path) -> tuple[Path, Path]:
    """STEM.key (private, 0600) and STEM.pub (the trust key to install on the vehicles)."""
    key = Ed25519PrivateKey.generate()
    priv, pub = stem.with_suffix(".key"), stem.with_suffix(".pub")
    for p in (priv, pub):
        if p.exists():
            raise ApprovalError(f"{p} exists; not overwriting a key")
    priv.touch(mode=0o600)
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as exc:
        raise ApprovalError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise ApprovalError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ApprovalError(f"{path}: not an Ed25519 key")
    return key


def iso_dt(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso(ms: int) -> str:
    return iso_dt(datetime.fromtimestamp(ms / 1000, UTC))
