"""Pairing: one-time codes (technician), swapping one for a named token (no auth), the tokens list and
revocation, and the lockout after wrong codes."""
from __future__ import annotations

import re
from typing import Any

import pytest

from edge_app.auth import tokens
from tests.edge_app.api.conftest import TOKEN_NAMES, Api, now_ms

CODE_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{10}")


def new_code(api: Api, scope: str | None = None) -> dict[str, Any]:
    r = api.client.post("/api/v1/pairing-codes", json={} if scope is None else {"scope": scope},
                        headers=api.technician)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def pair(api: Api, code: str, name: str) -> Any:
    return api.client.post("/api/v1/pair", json={"code": code, "name": name})


def test_a_pairing_code_is_for_a_crew_tablet_and_lasts_five_minutes(api: Api) -> None:
    before = now_ms()
    doc = new_code(api)
    assert CODE_RE.fullmatch(doc["code"]), doc
    assert doc["scope"] == "crew" and doc["url"] is None and doc["fingerprint"] is None
    assert before + tokens.CODE_TTL_MS <= doc["expires_at"] <= now_ms() + tokens.CODE_TTL_MS
    assert new_code(api, "technician")["scope"] == "technician"
    assert new_code(api)["code"] != doc["code"]


def test_the_code_shows_the_tablet_listener_when_there_is_one(api: Api) -> None:
    api.services.listener.url, api.services.listener.fingerprint = "https://amb-042:8443", "AB:CD"
    doc = new_code(api)
    assert (doc["url"], doc["fingerprint"]) == ("https://amb-042:8443", "AB:CD")


def test_a_code_pairs_one_tablet_once(api: Api) -> None:
    code = new_code(api)["code"]
    typed = code[:5].lower() + "-" + code[5:].lower().replace("0", "o").replace("1", "l")  # as a person types
    before = now_ms()
    r = pair(api, typed, "tablet-rear ")
    assert r.status_code == 201, r.text
    paired = r.json()
    assert paired["name"] == "tablet-rear" and paired["scope"] == "crew"
    assert paired["token"].startswith("ea1_") and len(paired["token"]) > 40
    assert before + tokens.TOKEN_TTL_MS["crew"] <= paired["expires_at"] <= now_ms() + tokens.TOKEN_TTL_MS["crew"]
    bearer = {"Authorization": f"Bearer {paired['token']}"}
    assert api.client.get("/api/v1/encounters", headers=bearer).status_code == 200, "at once, no restart"
    assert api.client.get("/api/v1/tokens", headers=bearer).status_code == 403
    again = pair(api, code, "tablet-2")
    assert again.status_code == 403 and again.json() == {"detail": "pairing code not valid (wrong, used or expired)"}


@pytest.mark.parametrize("scope", ["technician", "uplink"])
def test_a_code_gives_its_scope(api: Api, scope: str) -> None:
    paired = pair(api, new_code(api, scope)["code"], f"{scope}-2").json()
    assert paired["scope"] == scope
    r = api.client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {paired['token']}"})
    assert r.status_code == (200 if scope == "technician" else 403)


def test_a_taken_name_is_409_and_the_code_stays_good(api: Api) -> None:
    code = new_code(api)["code"]
    r = pair(api, code, TOKEN_NAMES["crew"])
    assert r.status_code == 409 and "already paired" in r.json()["detail"]
    assert pair(api, code, "tablet-other").status_code == 201
    assert pair(api, new_code(api)["code"], TOKEN_NAMES["revoked"]).status_code == 201, "a revoked name is free"


def test_an_expired_code_is_refused_like_a_wrong_one(api: Api) -> None:
    code = api.write(tokens.create_code(now_ms() - tokens.CODE_TTL_MS - 1000, "test"))["code"]
    r = pair(api, code, "late-tablet")
    assert r.status_code == 403 and r.json()["detail"] == "pairing code not valid (wrong, used or expired)"


@pytest.mark.parametrize(("body", "words"), [
    ({"code": "0000000000", "name": " leading-space"}, "body.name"),
    ({"code": "0000000000", "name": "a/b"}, "body.name"),
    ({"code": "0000000000", "name": "x" * 41}, "body.name"),
    ({"code": "0000000000", "name": ""}, "body.name"),
    ({"code": "", "name": "tab"}, "body.code"),
    ({"code": "0" * 33, "name": "tab"}, "body.code"),
    ({"name": "tab"}, "code"),
    ({"code": "0000000000", "name": "tab", "scope": "technician"}, "scope"),
])
def test_a_malformed_pairing_is_422_and_no_wrong_guess(api: Api, body: dict[str, Any], words: str) -> None:
    for _ in range(tokens.MAX_FAILURES_PER_MINUTE + 1):
        r = api.client.post("/api/v1/pair", json=body)
        assert r.status_code == 422, r.text
        assert words in r.json()["detail"] or words in str(r.json()["errors"])
    assert not api.services.tokens.locked(now_ms())


def test_wrong_codes_lock_pairing_for_everyone_for_a_minute(api: Api) -> None:
    code = new_code(api)["code"]
    statuses = [pair(api, "0000000000", f"guess-{i}").status_code for i in range(tokens.MAX_FAILURES_PER_MINUTE)]
    assert statuses == [403] * tokens.MAX_FAILURES_PER_MINUTE
    r = pair(api, "0000000000", "guess-6")
    assert r.status_code == 429 and r.headers["retry-after"] == "60"
    assert "wait a minute" in r.json()["detail"]
    r = pair(api, code, "real")
    assert r.status_code == 429, "even the right code waits"
    assert api.client.get("/api/v1/encounters", headers=api.crew).status_code == 200, "paired tablets go on"
    assert not api.services.tokens.locked(now_ms() + 60_001)


def test_a_taken_name_is_409_whatever_the_name(api: Api) -> None:
    assert pair(api, new_code(api)["code"], "not valid").status_code == 201
    r = pair(api, new_code(api)["code"], "not valid")
    assert r.status_code == 409, r.text


def test_tokens_lists_every_token_and_never_a_secret(api: Api) -> None:
    r = api.client.get("/api/v1/tokens", headers=api.technician)
    assert r.status_code == 200, r.text
    listed = {t["name"]: t for t in r.json()}
    assert set(listed) == set(TOKEN_NAMES.values())
    assert listed["uplink"]["scope"] == "uplink" and listed["uplink"]["created_by"] == "edge-app"
    assert listed[TOKEN_NAMES["crew"]]["scope"] == "crew" and listed[TOKEN_NAMES["crew"]]["revoked_at"] is None
    assert listed[TOKEN_NAMES["revoked"]]["revoked_at"] is not None
    assert listed[TOKEN_NAMES["expired"]]["expires_at"] < now_ms()
    assert all(set(t) == {"name", "scope", "created_at", "expires_at", "revoked_at", "created_by"}
               for t in r.json())
    assert not any(secret in r.text for secret in api.tokens.values())


def test_revoking_cuts_a_tablet_off_at_once(api: Api) -> None:
    assert api.client.get("/api/v1/encounters", headers=api.crew).status_code == 200
    r = api.client.delete(f"/api/v1/tokens/{TOKEN_NAMES['crew']}", headers=api.technician)
    assert r.status_code == 204 and r.content == b""
    assert api.client.get("/api/v1/encounters", headers=api.crew).status_code == 401
    listed = {t["name"]: t for t in api.client.get("/api/v1/tokens", headers=api.technician).json()}
    assert listed[TOKEN_NAMES["crew"]]["revoked_at"] is not None
    again = api.client.delete(f"/api/v1/tokens/{TOKEN_NAMES['crew']}", headers=api.technician)
    assert again.status_code == 404 and again.json() == {"detail": "no active token named 'tablet-crew'"}


def test_a_name_with_a_space_is_revoked_by_its_escaped_path(api: Api) -> None:
    token = pair(api, new_code(api)["code"], "tablet rear").json()["token"]
    assert api.client.delete("/api/v1/tokens/tablet%20rear", headers=api.technician).status_code == 204
    assert api.client.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize(("name", "status"), [("nobody", 404), ("a*b", 404), ("-x", 404), ("x" * 41, 422)])
def test_revoking_what_is_not_there(api: Api, name: str, status: int) -> None:
    r = api.client.delete(f"/api/v1/tokens/{name}", headers=api.technician)
    assert r.status_code == status, r.text
    assert "name" in r.json()["detail"]
