"""The API over a real HTTP client on the daemon's real Unix socket."""
from __future__ import annotations

import json
import os
import stat
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.harness import Daemon, Proc, write_config


@pytest.fixture
def daemon(root: Path, procs: list[Proc]) -> Daemon:
    d = Daemon(write_config(root), root)
    procs.append(d)
    return d.wait_ready()


def test_health_schema_and_socket_mode(daemon: Daemon) -> None:
    assert daemon.get("/healthz") == {"status": "ok"}
    schema = daemon.get("/schema/openapi.json")
    assert {"/api/v1/encounters", "/api/v1/encounters/{encounter_id}/observations", "/api/v1/devices",
            "/api/v1/stream", "/healthz"} <= set(schema["paths"])
    mode = stat.S_IMODE(os.stat(daemon.socket).st_mode)
    assert mode & 0o007 == 0, f"socket must not be world-accessible: {oct(mode)}"


def test_encounter_lifecycle_and_manual_observations(daemon: Daemon) -> None:
    with daemon.client() as c:
        r = c.post("/api/v1/encounters", json={"incident_ref": "INC-2026-001"})
        assert r.status_code == 201, r.text
        enc = r.json()
        uuid.UUID(enc["id"])
        assert enc["status"] == "open" and enc["active"] and enc["version"] == 1
        assert "INC" not in enc["id"]
        listed = c.get("/api/v1/encounters").json()
        assert [e["id"] for e in listed] == [enc["id"]]
        assert c.get(f"/api/v1/encounters/{enc['id']}").json()["incident_ref"] == "INC-2026-001"

        posts = [{"metric": "resp_rate", "value": 22}, {"metric": "consciousness", "value": "c"},
                 {"metric": "oxygen_supplement", "value": True},
                 {"metric": "temperature", "value": 39.2, "unit": "Cel", "time": int(time.time() * 1000) - 60_000}]
        for body in posts:
            r = c.post(f"/api/v1/encounters/{enc['id']}/observations", json=body)
            assert r.status_code == 201, r.text
            assert r.json()["source"] == "manual"
        got = c.get(f"/api/v1/encounters/{enc['id']}/observations").json()
        assert [(o["metric"], o["value"]) for o in got] == [
            ("resp_rate", 22), ("consciousness", "C"), ("oxygen_supplement", True), ("temperature", 39.2)]
        only = c.get(f"/api/v1/encounters/{enc['id']}/observations", params={"metric": "temperature"}).json()
        assert [o["value"] for o in only] == [39.2]

        r = c.patch(f"/api/v1/encounters/{enc['id']}", json={"spo2_scale": 2}, headers={"If-Match": '"1"'})
        assert r.status_code == 200 and r.json()["version"] == 2
        r = c.patch(f"/api/v1/encounters/{enc['id']}", json={"spo2_scale": 1}, headers={"If-Match": '"1"'})
        assert r.status_code == 409
        assert r.json()["current"]["spo2_scale"] == 2
        r = c.patch(f"/api/v1/encounters/{enc['id']}", json={"status": "closed"})
        assert r.status_code == 200 and not r.json()["active"]


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"metric": "heart_rat", "value": 80}, 422, "field: body.metric"),
    ({"metric": "heart_rate", "value": 900}, 422, "outside"),
    ({"metric": "heart_rate", "value": "fast"}, 422, "must be a number"),
    ({"metric": "temperature", "value": 102, "unit": "[degF]"}, 422, "unit must be 'Cel'"),
    ({"metric": "consciousness", "value": "X"}, 422, "one of A, C, V, P, U"),
    ({"metric": "oxygen_supplement", "value": 1}, 422, "true or false"),
    ({"metric": "gcs_eye", "value": 2.5}, 422, "whole number"),
    ({"metric": "spo2", "value": 97, "time": "yesterday"}, 422, "field: body.time"),
    ({"metric": "spo2", "value": 97, "time": "2026-11-23T10:00:00"}, 422, "field: body.time"),
    ({"metric": "spo2", "value": 97, "time": 4_102_444_800_000}, 422, "future"),
    ({"metric": "spo2", "value": 97, "colour": "red"}, 422, ""),
    ({"metric": "spo2"}, 422, ""),
    ([1, 2], 422, ""),
])
def test_bad_manual_entries_are_422_naming_the_field(daemon: Daemon, body: object, status: int, words: str) -> None:
    with daemon.client() as c:
        eid = c.post("/api/v1/encounters", json={}).json()["id"]
        r = c.post(f"/api/v1/encounters/{eid}/observations", json=body)
        assert r.status_code == status, r.text
        assert words in r.json()["detail"] or words in str(r.json())
        assert c.get(f"/api/v1/encounters/{eid}/observations").json() == []


def test_errors_are_json_4xx(daemon: Daemon) -> None:
    with daemon.client() as c:
        missing = str(uuid.uuid4())
        for method, path, kw in [
            ("GET", f"/api/v1/encounters/{missing}", {}),
            ("GET", "/api/v1/encounters/not-a-uuid", {}),
            ("GET", f"/api/v1/encounters/{missing}/observations", {}),
            ("POST", f"/api/v1/encounters/{missing}/observations", {"json": {"metric": "spo2", "value": 90}}),
            ("PATCH", f"/api/v1/encounters/{missing}", {"json": {"status": "closed"}}),
            ("POST", "/api/v1/encounters", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
            ("POST", "/api/v1/encounters", {"json": {"incident_ref": "x" * 65}}),
            ("POST", "/api/v1/encounters", {"content": b"{" + b" " * 70_000 + b"}",
                                            "headers": {"content-type": "application/json"}}),
            ("GET", "/api/v1/encounters", {"params": {"limit": "0"}}),
            ("GET", "/api/v1/nothing-here", {}),
        ]:
            r = c.request(method, path, **kw)
            assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
            assert "detail" in r.json(), (path, r.text)


def test_status_and_cli_status(daemon: Daemon, root: Path) -> None:
    doc = daemon.get("/api/v1/status")
    assert doc["summary"].startswith("ready: 0 devices")
    p = Proc(["status", "--config", str(root / "config.toml")], root / "status.log")
    assert p.p.wait(30) == 0, p.output()
    assert "ready: 0 devices" in p.output()


def test_cli_status_when_daemon_is_down(root: Path) -> None:
    write_config(root)
    p = Proc(["status", "--config", str(root / "config.toml")], root / "status.log")
    assert p.p.wait(30) == 2
    assert p.output().strip().splitlines() == [
        f"edge-app: the daemon is not running (no socket at {root / 'api.sock'}); start it with "
        "`systemctl start edge-app` or `edge-app run`"]


def test_second_daemon_on_same_socket_refuses(daemon: Daemon, root: Path, procs: list[Proc]) -> None:
    second = Proc(["run", "--config", str(root / "config.toml")], root / "second.log")
    procs.append(second)
    assert second.p.wait(30) == 2
    assert "another edge-app daemon is already serving" in second.output()
    assert daemon.get("/healthz") == {"status": "ok"}


NEWS2_CASES = json.loads((Path(__file__).parents[1] / "vectors" / "news2.json").read_text())["cases"]


def test_news2_public_cases_through_the_api(daemon: Daemon) -> None:
    with daemon.client() as c:
        for case in NEWS2_CASES:
            i, want = case["input"], case["expected"]
            eid = c.post("/api/v1/encounters", json={"incident_ref": case["id"]}).json()["id"]
            assert c.get(f"/api/v1/encounters/{eid}/news2").json()["missing"] == [
                "resp_rate", "spo2", "oxygen_supplement", "bp_systolic", "pulse", "consciousness", "temperature"]
            c.patch(f"/api/v1/encounters/{eid}", json={"spo2_scale": i["spo2_scale"]})
            for metric, value in (("resp_rate", i["respiration_rate"]), ("spo2", i["spo2"]),
                                  ("oxygen_supplement", i["on_oxygen"]), ("bp_systolic", i["systolic_bp"]),
                                  ("pulse_rate", i["pulse"]), ("consciousness", i["consciousness"]),
                                  ("temperature", i["temperature"])):
                r = c.post(f"/api/v1/encounters/{eid}/observations", json={"metric": metric, "value": value})
                assert r.status_code == 201, r.text
            got = c.get(f"/api/v1/encounters/{eid}/news2").json()
            assert (got["total"], got["risk"], got["scale"]) == (want["total"], want["clinical_risk"],
                                                                 i["spo2_scale"]), case["id"]
            assert got["missing"] == []
            assert got["parameters"]["pulse"] == want["parameter_scores"]["pulse"]
            assert got["inputs"]["pulse"]["metric"] == "pulse_rate"


def test_unknown_metric_in_a_query_is_422(daemon: Daemon) -> None:
    with daemon.client() as c:
        eid = c.post("/api/v1/encounters", json={}).json()["id"]
        for path in (f"/api/v1/encounters/{eid}/observations", "/api/v1/observations"):
            r = c.get(path, params={"metric": "spo3"})
            assert r.status_code == 422 and "spo3" in r.json()["detail"]
