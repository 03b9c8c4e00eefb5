"""`edge-app export ENCOUNTER --format fhir|atmist|summary`: a handover document from the running daemon."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import httpx

from edge_app.client import _unreachable, sync_client
from edge_app.config import Config
from edge_app.errors import EdgeAppError

_PATHS = {"fhir": "fhir", "atmist": "handover?format=atmist", "summary": "handover?format=summary"}


def export_command(cfg: Config, encounter: str, fmt: str, out: str | None) -> int:
    """Fetch through the API (so the read is audited like any other) and write to stdout or a file."""
    if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", encounter):
        raise EdgeAppError(f"{encounter!r} is not an encounter id (a UUID; see GET /api/v1/encounters)")
    try:
        with sync_client(cfg.socket_path, timeout=30) as c:
            r = c.get(f"/api/v1/encounters/{encounter}/{_PATHS[fmt]}")
    except (httpx.TransportError, OSError) as exc:
        raise _unreachable(cfg.socket_path, exc) from None
    if r.status_code != 200:
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        raise EdgeAppError(f"export failed: {r.status_code} {detail}")
    text = json.dumps(r.json(), indent=2) + "\n" if fmt == "fhir" else r.text
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise EdgeAppError(f"--out {out}: {exc.strerror or exc}") from None
        print(f"wrote {fmt} for encounter {encounter} to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
