"""`edge-app pair` and `edge-app tokens list|revoke NAME`: through the daemon, over its Unix socket."""
from __future__ import annotations

import time
from typing import Any

import httpx

from edge_app.client import call
from edge_app.config import Config


def _call(cfg: Config, method: str, path: str, **kw: Any) -> httpx.Response:
    return call(cfg.socket_path, method, path, **kw)


def pair_command(cfg: Config, scope: str) -> int:
    """Print a one-time code for a tablet, with where to connect and the certificate to expect."""
    doc = _call(cfg, "POST", "/api/v1/pairing-codes", json={"scope": scope}).json()
    code = doc["code"]
    left = max(0, int(doc["expires_at"] / 1000 - time.time()))
    print(f"pairing code:  {code[:5]}-{code[5:]}   ({doc['scope']}, valid {left // 60} min {left % 60} s, once)")
    print(f"connect to:    {doc['url'] or 'no tablet listener configured ([api] listen)'}")
    if doc["fingerprint"]:
        print(f"certificate:   SHA-256 {doc['fingerprint']}")
    print("on the tablet: POST /api/v1/pair {\"code\": \"...\", \"name\": \"tablet-rear\"}")
    return 0


def tokens_command(cfg: Config, action: str, name: str | None) -> int:
    if action == "revoke":
        assert name is not None
        _call(cfg, "DELETE", f"/api/v1/tokens/{name}")
        print(f"revoked {name}: it opens nothing from now on")
        return 0
    rows = _call(cfg, "GET", "/api/v1/tokens").json()
    if not rows:
        print("no tokens: pair a tablet with `edge-app pair`")
        return 0
    now = time.time() * 1000
    print(f"{'name':<24} {'scope':<11} {'state':<10} expires")
    for t in rows:
        state = "revoked" if t["revoked_at"] else ("expired" if t["expires_at"] <= now else "active")
        print(f"{t['name']:<24} {t['scope']:<11} {state:<10} {time.strftime('%Y-%m-%d', time.gmtime(t['expires_at'] / 1000))}")
    return 0
