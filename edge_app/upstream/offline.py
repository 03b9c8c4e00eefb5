"""Offline bundles: the records waiting to go, on removable media, signed by the vehicle.

When the upstream is cut off for days, a technician carries the records out by hand:

    DIR/manifest.json     {"type": "edge-app-offline-bundle", "vehicle", "created_at", "signing_key",
                           "records": [{"file", "key", "kind", "encounter_id", "sha256", "bytes"}]}
    DIR/manifest.sig      base64 Ed25519 signature over the exact bytes of manifest.json
    DIR/signing-key.pub   the vehicle's public key (PEM), for convenience: compare its fingerprint with
                          the one the box shows, or pass the key you already trust with --key
    DIR/records/KEY.json  each record: a FHIR R4 transaction Bundle of PUTs to client ids

The daemon holds the vehicle's signing key (made on first use, 0600 beside the database) and signs only
documents of this type for its own vehicle. Loading a bundle upstream twice creates nothing twice: every
resource has a deterministic id, and a PUT to it replaces rather than adds.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge_app.upstream.approval import ApprovalError, canonical, key_fingerprint, load_public_key

BUNDLE_TYPE = "edge-app-offline-bundle"
KEY_FILE = "bundle-signing.key"
_FILE_RE = re.compile(r"^records/[A-Za-z0-9._-]{1,80}\.json$")


class BundleError(ValueError):
    """Why a bundle does not verify, in one line."""


@dataclass(frozen=True, slots=True)
class Verified:
    vehicle: str
    created_at: str
    fingerprint: str
    records: list[dict[str, Any]]


def signing_key(data_dir: Path) -> Ed25519PrivateKey:
    """The vehicle's bundle-signing key, made on first use (0600, never leaves the box)."""
    path = data_dir / KEY_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        tmp = path.with_name(KEY_FILE + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return key
    loaded = serialization.load_pem_private_key(raw, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise BundleError(f"{path}: not an Ed25519 key")
    return loaded


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def check_manifest(manifest: Any, vehicle: str) -> None:
    """A bundle manifest's shape: its type, its vehicle, and records each with a file and a hash."""
    if not isinstance(manifest, dict) or manifest.get("type") != BUNDLE_TYPE:
        raise BundleError(f"only manifests of type {BUNDLE_TYPE!r} are signed")
    if manifest.get("vehicle") != vehicle:
        raise BundleError(f"manifest is for vehicle {manifest.get('vehicle')!r}, this is {vehicle!r}")
    records = manifest.get("records")
    if not isinstance(records, list):
        raise BundleError("manifest.records must be a list")
    for r in records:
        if not isinstance(r, dict) or not isinstance(r.get("file"), str) or not _FILE_RE.match(r["file"]) \
                or not isinstance(r.get("sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", r["sha256"]):
            raise BundleError("manifest.records: each needs file (records/KEY.json) and sha256")


def sign_manifest(key: Ed25519PrivateKey, manifest: dict[str, Any]) -> tuple[bytes, str]:
    """(the manifest's exact bytes, the base64 signature over them)."""
    data = canonical(manifest)
    return data, base64.b64encode(key.sign(data)).decode()


def verify_bundle(directory: Path, trusted: Path | None = None) -> Verified:
    """Signature over manifest.json, then every record's hash; no record missing and none extra."""
    try:
        data = (directory / "manifest.json").read_bytes()
        sig_text = (directory / "manifest.sig").read_text(encoding="ascii").strip()
    except OSError as exc:
        raise BundleError(f"{directory}: not a bundle ({exc.strerror or exc}: {exc.filename})") from None
    except UnicodeDecodeError:
        raise BundleError("manifest.sig is not base64 text") from None
    try:
        key = load_public_key(trusted or directory / "signing-key.pub")
    except ApprovalError as exc:
        raise BundleError(str(exc)) from None
    try:
        key.verify(base64.b64decode(sig_text, validate=True), data)
    except (InvalidSignature, binascii.Error, ValueError):
        raise BundleError("SIGNATURE DOES NOT MATCH: manifest.json was changed, or signed by another key "
                          f"than {key_fingerprint(key)}") from None
    try:
        manifest = json.loads(data)
        check_manifest(manifest, manifest.get("vehicle"))
    except (ValueError, BundleError, AttributeError) as exc:
        raise BundleError(f"manifest.json: {exc}") from None
    listed = set()
    for r in manifest["records"]:
        path = directory / r["file"]
        try:
            blob = path.read_bytes()
        except OSError:
            raise BundleError(f"{r['file']}: MISSING") from None
        if hashlib.sha256(blob).hexdigest() != r["sha256"]:
            raise BundleError(f"{r['file']}: CHANGED (its SHA-256 is not the one signed)")
        listed.add(path.name)
    extra = sorted(p.name for p in (directory / "records").glob("*") if p.name not in listed) \
        if (directory / "records").is_dir() else []
    if extra:
        raise BundleError(f"records/{extra[0]}: not in the signed manifest (added after signing)")
    return Verified(vehicle=manifest["vehicle"], created_at=str(manifest.get("created_at")),
                    fingerprint=key_fingerprint(key), records=manifest["records"])
