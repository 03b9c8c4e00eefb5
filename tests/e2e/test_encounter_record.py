"""The clinical record through the API: nested edits, time stamps, medications, history, conflicts."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.e2e.harness import Daemon, Proc, write_config


@pytest.fixture
def daemon(root: Path, procs: list[Proc]) -> Daemon:
    d = Daemon(write_config(root), root)
    procs.append(d)
    return d.wait_ready()


def test_a_job_from_call_to_close(daemon: Daemon) -> None:
    now = int(time.time() * 1000)
    with daemon.client() as c:
        enc = c.post("/api/v1/encounters", json={"incident_ref": "INC-77"}).json()
        eid = enc["id"]
        assert enc["patient"]["allergies"] == [] and enc["times"]["at_scene"] is None
        r = c.patch(f"/api/v1/encounters/{eid}", json={
            "complaint": "chest pain", "patient": {"name": "Ann Example", "sex": "female", "estimated_age": 62,
                                                   "allergies": ["penicillin"], "date_of_birth": "1964-02-29"},
            "times": {"call": now - 600_000, "mobile": now - 590_000}})
        assert r.status_code == 200, r.text
        rec = r.json()
        assert rec["patient"]["name"] == "Ann Example" and rec["patient"]["allergies"] == ["penicillin"]
        assert rec["times"]["call"] == now - 600_000 and rec["version"] > 1
        for which in ("at_scene", "at_patient"):
            r = c.post(f"/api/v1/encounters/{eid}/times/{which}")
            assert r.status_code == 200, r.text
            assert abs(r.json()["times"][which] - time.time() * 1000) < 5000
        med = c.post(f"/api/v1/encounters/{eid}/medications",
                     json={"drug": "Aspirin", "dose": 300, "unit": "mg", "route": "oral"})
        assert med.status_code == 201, med.text
        assert med.json()["entered_by"] == f"uid:{os.getuid()}" and med.json()["id"] > 0
        assert c.post(f"/api/v1/encounters/{eid}/interventions", json={"what": "12-lead ECG"}).status_code == 201
        assert c.post(f"/api/v1/encounters/{eid}/notes", json={"text": "pain 8/10 at rest"}).status_code == 201
        rec = c.get(f"/api/v1/encounters/{eid}").json()
        assert [m["drug"] for m in rec["medications_given"]] == ["Aspirin"]
        assert [i["what"] for i in rec["interventions"]] == ["12-lead ECG"]
        assert rec["notes"][0]["text"] == "pain 8/10 at rest"
        # clearing a field is null; leaving it out leaves it alone
        rec = c.patch(f"/api/v1/encounters/{eid}", json={"patient": {"estimated_age": None}}).json()
        assert rec["patient"]["estimated_age"] is None and rec["patient"]["name"] == "Ann Example"
        assert c.patch(f"/api/v1/encounters/{eid}", json={"status": "handed_over"}).json()["status"] == "handed_over"
        r = c.patch(f"/api/v1/encounters/{eid}", json={"status": "open"})
        assert r.status_code == 409 and "not handed_over -> open" in r.json()["detail"]
        assert c.patch(f"/api/v1/encounters/{eid}", json={"status": "closed"}).status_code == 200
        r = c.post(f"/api/v1/encounters/{eid}/notes", json={"text": "after close"})
        assert r.status_code == 409 and "closed" in r.json()["detail"]
        events = c.get(f"/api/v1/encounters/{eid}/events").json()
        assert events[0]["kind"] == "create" and events[-1]["path"] == "status"
        assert [e["version"] for e in events] == sorted(e["version"] for e in events)
        assert {e["path"] for e in events} >= {"complaint", "patient.name", "times.at_scene", "medications_given"}


def test_two_clinicians_only_conflict_on_the_same_field(daemon: Daemon) -> None:
    with daemon.client() as cab, daemon.client() as tablet:
        eid = cab.post("/api/v1/encounters", json={}).json()["id"]
        got = cab.get(f"/api/v1/encounters/{eid}")
        seen = got.json()["version"]
        assert got.headers["etag"] == f'"{seen}"', "the version is the ETag to send back in If-Match"
        # both start from the same version
        assert tablet.patch(f"/api/v1/encounters/{eid}", json={"complaint": "fall"},
                            headers={"If-Match": f'"{seen}"'}).status_code == 200
        r = cab.patch(f"/api/v1/encounters/{eid}", json={"patient": {"sex": "male"}},
                      headers={"If-Match": f'"{seen}"'})
        assert r.status_code == 200, "a different field is not a conflict"
        r = cab.patch(f"/api/v1/encounters/{eid}", json={"complaint": "collapse"}, headers={"If-Match": f'"{seen}"'})
        assert r.status_code == 409
        body = r.json()
        assert body["fields"] == ["complaint"] and body["current"]["complaint"] == "fall"
        # told the current value, the clinician chooses and writes on the version they now hold
        r = cab.patch(f"/api/v1/encounters/{eid}", json={"complaint": "fall, then collapse"},
                      headers={"If-Match": f'"{body["current"]["version"]}"'})
        assert r.status_code == 200 and r.json()["complaint"] == "fall, then collapse"


@pytest.mark.parametrize(("body", "field"), [
    ({"patient": {"sex": "yes"}}, "sex"),
    ({"patient": {"date_of_birth": "1990-13-01"}}, "patient.date_of_birth"),
    ({"patient": {"date_of_birth": "2999-01-01"}}, "patient.date_of_birth: is in the future"),
    ({"patient": {"estimated_age": 200}}, "estimated_age"),
    ({"times": {"at_scene": "noon"}}, "times.at_scene"),
    ({"times": {"at_scene": 4_102_444_800_000}}, "times.at_scene: is in the future"),
    ({"spo2_scale": 3}, "spo2_scale"),
    ({"patient": {"name": "x" * 101}}, "name"),
    ({"patient": {"eye_colour": "blue"}}, "eye_colour"),
])
def test_bad_record_edits_are_422_naming_the_field_and_change_nothing(daemon: Daemon, body: dict,
                                                                      field: str) -> None:
    with daemon.client() as c:
        eid = c.post("/api/v1/encounters", json={}).json()["id"]
        before = c.get(f"/api/v1/encounters/{eid}").json()
        r = c.patch(f"/api/v1/encounters/{eid}", json=body)
        assert r.status_code == 422, r.text
        assert field in r.json()["detail"] or field in str(r.json()), r.text
        assert c.get(f"/api/v1/encounters/{eid}").json() == before


def test_bad_medication_entries(daemon: Daemon) -> None:
    with daemon.client() as c:
        eid = c.post("/api/v1/encounters", json={}).json()["id"]
        for body in ({"drug": "", "dose": 1, "unit": "mg", "route": "oral"},
                     {"drug": "x", "dose": -1, "unit": "mg", "route": "oral"},
                     {"drug": "x", "dose": 1, "unit": "mg"},
                     {"drug": "   ", "dose": 1, "unit": "mg", "route": "oral"}):
            r = c.post(f"/api/v1/encounters/{eid}/medications", json=body)
            assert r.status_code == 422, (body, r.text)
        assert c.get(f"/api/v1/encounters/{eid}").json()["medications_given"] == []
        assert c.post(f"/api/v1/encounters/{eid}/times/lunch").status_code in (400, 404, 422)


def test_gcs_with_not_testable_and_news2_for_children(daemon: Daemon) -> None:
    with daemon.client() as c:
        eid = c.post("/api/v1/encounters", json={}).json()["id"]
        r = c.post(f"/api/v1/encounters/{eid}/gcs", json={"eye": 4, "verbal": 4, "motor": 6})
        assert r.status_code == 201 and r.json()["total"] == 14 and r.json()["text"] == "GCS 14 (E4 V4 M6)"
        r = c.post(f"/api/v1/encounters/{eid}/gcs", json={"eye": 3, "verbal": "NT", "motor": 5})
        assert r.status_code == 201 and r.json()["total"] is None
        assert "verbal not testable" in r.json()["text"]
        metrics = [(o["metric"], o["value"]) for o in c.get(f"/api/v1/encounters/{eid}/observations").json()]
        assert metrics == [("gcs_eye", 4), ("gcs_verbal", 4), ("gcs_motor", 6), ("gcs_total", 14),
                           ("gcs_eye", 3), ("gcs_verbal", "NT"), ("gcs_motor", 5)]
        r = c.post(f"/api/v1/encounters/{eid}/gcs", json={"eye": 5, "verbal": 4, "motor": 6})
        assert r.status_code == 422 and "eye" in r.json()["detail"]

        for metric, value in (("resp_rate", 30), ("spo2", 90), ("oxygen_supplement", False), ("bp_systolic", 85),
                              ("pulse_rate", 140), ("consciousness", "V"), ("temperature", 39.5)):
            c.post(f"/api/v1/encounters/{eid}/observations", json={"metric": metric, "value": value})
        adult = c.get(f"/api/v1/encounters/{eid}/news2").json()
        assert adult["total"] >= 7 and adult["risk"] == "high" and adult["warning"] is None
        c.patch(f"/api/v1/encounters/{eid}", json={"patient": {"estimated_age": 9}})
        child = c.get(f"/api/v1/encounters/{eid}/news2").json()
        assert child["total"] is None and child["risk"] is None and "under 16" in child["warning"]


def test_reads_and_writes_of_patient_data_are_audited(daemon: Daemon, root: Path) -> None:
    import sqlite3

    from edge_app.store.connection import open_db
    from edge_app.store.audit import verify_audit_chain
    from tests.e2e.harness import wait_for

    with daemon.client() as c:
        eid = c.post("/api/v1/encounters", json={}).json()["id"]
        c.patch(f"/api/v1/encounters/{eid}", json={"complaint": "fall"})
        c.get(f"/api/v1/encounters/{eid}")
        c.get(f"/api/v1/encounters/{eid}/observations")
        c.get(f"/api/v1/encounters/{eid}/news2")
        c.get("/api/v1/encounters")

    def actions() -> list[tuple[str, str, str | None]]:
        con = sqlite3.connect(f"file:{root / 'edge.db'}?mode=ro", uri=True)
        try:
            return con.execute("SELECT actor, action, object FROM audit_log ORDER BY id").fetchall()
        finally:
            con.close()

    wait_for(lambda: len(actions()) >= 6, 5, "audit rows")
    got = [(a, o) for _actor, a, o in actions()]
    assert got[:6] == [("encounter.create", eid), ("encounter.update", eid), ("encounter.read", eid),
                       ("observation.list", eid), ("news2.read", eid), ("encounter.list", None)]
    assert all(actor == f"uid:{os.getuid()}" for actor, _a, _o in actions()), "the kernel says who is on the socket"
    db = open_db(root / "edge.db", readonly=True)
    try:
        assert verify_audit_chain(db)[1] is None
    finally:
        db.close()


def test_news2_is_pushed_on_the_stream_when_an_input_changes(daemon: Daemon) -> None:
    import asyncio

    import httpx

    from edge_app.client import sse_events

    with daemon.client() as c:
        eid = c.post("/api/v1/encounters", json={}).json()["id"]

    async def watch() -> list[dict]:
        got: list[dict] = []
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(daemon.socket)),
                                     base_url="http://x") as client:
            async def enter() -> None:
                await asyncio.sleep(0.3)
                for metric, value in (("resp_rate", 22), ("consciousness", "C")):
                    await client.post(f"/api/v1/encounters/{eid}/observations", json={"metric": metric, "value": value})
                await client.patch(f"/api/v1/encounters/{eid}", json={"spo2_scale": 2})

            task = asyncio.create_task(enter())
            async for kind, data, _ in sse_events(client):
                if kind == "news2":
                    got.append(data)
                    if len(got) == 3:
                        break
            await task
        return got

    got = asyncio.run(asyncio.wait_for(watch(), 15))
    assert [g["parameters"]["resp_rate"] for g in got] == [2, 2, 2]
    assert [g["parameters"]["consciousness"] for g in got] == [None, 3, 3]
    assert [g["scale"] for g in got] == [1, 1, 2] and all(g["encounter_id"] == eid for g in got)
