"""`edge-app export --pending --out DIR`, `edge-app verify-bundle DIR` and `edge-app uplink --from-bundle DIR`:
records carried out by hand when the link is down (see edge_app/upstream/offline.py for the layout)."""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import msgspec

from edge_app.cli.db import fsync_dir
from edge_app.client import call_as
from edge_app.config import Config
from edge_app.errors import EdgeAppError
from edge_app.model.requests import ManifestRecord
from edge_app.model.system import Signed
from edge_app.model.upstream import OutboxBatch, OutboxPayload
from edge_app.upstream.offline import BundleError, verify_bundle


def export_pending(cfg: Config, out: str) -> int:
    """Every record waiting to go (whatever the gate says), signed by the vehicle, into a new directory."""
    if not cfg.vehicle_id:
        raise EdgeAppError(f"{cfg.source or '<defaults>'}: appliance.vehicle_id is not set; a bundle must name "
                           "its vehicle")
    target = Path(out)
    if target.exists() and any(target.iterdir()):
        raise EdgeAppError(f"{target}: not empty; give a new directory (a bundle is written once)")
    records_dir = target / "records"
    records_dir.mkdir(parents=True, exist_ok=True)
    sock = cfg.socket_path
    listed: list[ManifestRecord] = []
    after = 0
    while True:
        batch = call_as(sock, OutboxBatch, "GET", "/api/v1/upstream/outbox", params={"limit": 500, "after": after})
        if not batch.entries:
            break
        for e in batch.entries:
            doc = call_as(sock, OutboxPayload, "GET", f"/api/v1/upstream/outbox/{e.key}", timeout=120)
            blob = json.dumps(doc.bundle, separators=(",", ":"), ensure_ascii=False).encode()
            _write(records_dir / f"{e.key}.json", blob)
            listed.append(ManifestRecord(file=f"records/{e.key}.json", key=e.key, kind=e.kind,
                                         encounter_id=e.encounter_id, sha256=hashlib.sha256(blob).hexdigest(),
                                         bytes=len(blob)))
        after = batch.entries[-1].seq
    signed = call_as(sock, Signed, "POST", "/api/v1/upstream/sign",
                     json={"records": msgspec.to_builtins(listed)})
    _write(target / "manifest.json", signed.manifest.encode())
    _write(target / "manifest.sig", signed.signature.encode() + b"\n")
    _write(target / "signing-key.pub", signed.public_key.encode())
    fsync_dir(records_dir)
    fsync_dir(target)
    verify_bundle(target)  # what was written is what was signed, before anyone unplugs the stick
    print(f"wrote {len(listed)} records to {target}, signed by {cfg.vehicle_id} key {signed.fingerprint}")
    print("they stay queued here too: sending both ways stores each record once")
    return 0


def _write(path: Path, blob: bytes) -> None:
    with open(path, "wb") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())


def verify_command(directory: str, key: str | None) -> int:
    try:
        v = verify_bundle(Path(directory), Path(key) if key else None)
    except BundleError as exc:
        print(f"{directory}: NOT VALID: {exc}")
        return 1
    print(f"{directory}: valid: {len(v.records)} records from vehicle {v.vehicle}, made {v.created_at}")
    print(f"signed by key {v.fingerprint}" + ("" if key else
          " (the key in the bundle: check this fingerprint against the vehicle's, or pass --key)"))
    return 0


def load_bundle(cfg: Config, directory: str, key: str | None) -> int:
    """Send a verified bundle's records to the configured target (from any machine with the config)."""
    # lazy: the target's client only when loading a bundle
    import asyncio

    from edge_app.uplink.targets import make_target
    from edge_app.uplink.targets.base import Record

    try:
        v = verify_bundle(Path(directory), Path(key) if key else None)
    except BundleError as exc:
        raise EdgeAppError(f"{directory}: not loaded: {exc}") from None
    if cfg.upstream is None:
        raise EdgeAppError(f"{cfg.source or '<defaults>'}: no [upstream] table: where should the bundle go?")

    async def send_all() -> int:
        target = make_target(cfg)
        await target.start()
        failed = 0
        try:
            for r in v.records:
                body = json.loads((Path(directory) / r["file"]).read_bytes())
                for attempt in range(5):
                    res = await target.send(Record(key=r["key"], kind=r["kind"], encounter_id=r["encounter_id"],
                                                   body=body))
                    if res.outcome != "retry":
                        break
                    await asyncio.sleep(min(30, 2 ** attempt))
                print(f"{r['key']}: {res.outcome}{': ' + res.detail if res.detail else ''}")
                failed += res.outcome != "ok"
                if res.outcome == "identity":
                    return 1
        finally:
            await target.close()
        return 1 if failed else 0

    rc = asyncio.run(send_all())
    print(f"{len(v.records)} records from {v.vehicle}: {'all stored' if rc == 0 else 'NOT all stored'}",
          file=sys.stderr)
    return rc
