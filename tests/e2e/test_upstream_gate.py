"""The daemon's side of forwarding, end to end over the real socket: the outbox filled at handover and
close, the gate (suspend, resume, signed approvals), who may do what, acknowledgements and dead letters."""
from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge_app.upstream.approval import generate_keypair, load_private_key, sign
from tests.e2e.harness import ROOT, Daemon, Proc, Simulator, wait_for, write_config

VEHICLE = "AMB-042"


def upstream_config(root: Path, *, approval: bool = False, live: bool = False) -> Path:
    keys = ""
    if approval:
        generate_keypair(root / "authority")
        keys = f'require_approval = true\ntrust_keys = ["{root / "authority.pub"}"]\n'
    extra = (f'[appliance]\nvehicle_id = "{VEHICLE}"\n[upstream]\ntarget = "fhir"\n'
             f'url = "http://127.0.0.1:9/fhir"\n{keys}live_observations = {"true" if live else "false"}\n')
    return write_config(root, extra=extra)


def as_uplink(d: Daemon) -> httpx.Client:
    token = (d.socket.parent / "uplink.token").read_text().strip()
    c = d.client()
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_app", *args, "--config", str(root / "config.toml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def close_encounter(d: Daemon, *, status: str = "closed") -> str:
    with d.client() as c:
        eid = c.post("/api/v1/encounters", json={}).json()["id"]
        r = c.post(f"/api/v1/encounters/{eid}/observations", json={"metric": "spo2", "value": 97})
        assert r.status_code == 201, r.text
        r = c.patch(f"/api/v1/encounters/{eid}", json={"status": status})
        assert r.status_code == 200, r.text
    return eid


def approval_file(root: Path, *, key: Path | None = None, vehicle: str = VEHICLE, hours: float = 2,
                  start: datetime | None = None) -> dict[str, Any]:
    begin = start or datetime.now(UTC) - timedelta(minutes=1)
    return sign(load_private_key(key or root / "authority.key"), vehicle, begin, begin + timedelta(hours=hours),
                "EOC duty manager")


@pytest.fixture
def daemon(root: Path, procs: list[Proc]) -> Daemon:
    d = Daemon(upstream_config(root), root)
    procs.append(d)
    return d.wait_ready()


def test_closing_an_encounter_queues_it_and_the_uplink_token_drains_it(daemon: Daemon) -> None:
    token_file = daemon.socket.parent / "uplink.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    eid = close_encounter(daemon)
    with as_uplink(daemon) as up:
        batch = up.get("/api/v1/upstream/outbox").json()
        assert batch["open"] and [e["encounter_id"] for e in batch["entries"]] == [eid]
        key = batch["entries"][0]["key"]
        doc = up.get(f"/api/v1/upstream/outbox/{key}").json()
        types = [e["resource"]["resourceType"] for e in doc["bundle"]["entry"]]
        assert doc["bundle"]["type"] == "transaction" and {"Patient", "Encounter", "Observation"} <= set(types)
        # The uplink's token is for forwarding only.
        assert up.post("/api/v1/upstream/resume", json={}).status_code == 403
        assert up.get("/api/v1/tokens").status_code == 403
        assert up.post("/api/v1/encounters", json={}).status_code == 403
        assert up.get("/api/v1/upstream/dead-letters").status_code == 403
        assert up.post(f"/api/v1/upstream/outbox/{key}/ack").json() == {"result": "acked"}
        assert up.post(f"/api/v1/upstream/outbox/{key}/ack").json() == {"result": "already"}
        st = up.get("/api/v1/upstream").json()
    assert (st["pending"], st["sent"], st["dead"]) == (0, 1, 0) and st["last_ok_at"]
    import sqlite3
    with sqlite3.connect(f"file:{daemon.socket.parent / 'edge.db'}?mode=ro", uri=True) as db:
        acked = db.execute("SELECT upstream_acked_at FROM encounters WHERE id = ?", (eid,)).fetchone()[0]
    assert acked, "a closed record the target confirmed may be purged after the retention period"


def test_every_long_poll_wakes_when_a_record_is_queued(daemon: Daemon) -> None:
    """The uplink and a technician long-polling at once: a close wakes both at once, not after the
    poll's 5 s recheck (one poller clearing a shared event used to be able to swallow the other's wake)."""
    from concurrent.futures import ThreadPoolExecutor

    def poll(as_up: bool) -> tuple[float, int]:
        with (as_uplink(daemon) if as_up else daemon.client()) as c:
            t0 = time.monotonic()
            batch = c.get("/api/v1/upstream/outbox", params={"wait": 30}, timeout=40).json()
            return time.monotonic() - t0, len(batch["entries"])

    for _ in range(3):
        with as_uplink(daemon) as up:
            for e in up.get("/api/v1/upstream/outbox").json()["entries"]:
                up.post(f"/api/v1/upstream/outbox/{e['key']}/ack")
        with ThreadPoolExecutor(2) as pool:
            polls = [pool.submit(poll, as_up) for as_up in (True, False)]
            time.sleep(0.5)  # both are waiting now
            close_encounter(daemon)
            results = [p.result() for p in polls]
        assert all(n == 1 for _, n in results), results
        assert all(took < 4.5 for took, _ in results), f"a poller slept out its recheck: {results}"


def test_a_newer_status_replaces_the_waiting_entry(daemon: Daemon) -> None:
    eid = close_encounter(daemon, status="handed_over")
    with daemon.client() as c:
        assert c.patch(f"/api/v1/encounters/{eid}", json={"status": "closed"}).status_code == 200
        entries = c.get("/api/v1/upstream/outbox").json()["entries"]
    assert len(entries) == 1 and entries[0]["encounter_id"] == eid


def test_suspend_stops_everything_until_resume_and_survives_a_restart(root: Path, daemon: Daemon,
                                                                     procs: list[Proc]) -> None:
    close_encounter(daemon)
    r = cli(root, "upstream", "suspend", "--reason", "trust under cyber attack")
    assert r.returncode == 0, r.stderr
    with as_uplink(daemon) as up:
        batch = up.get("/api/v1/upstream/outbox").json()
        assert not batch["open"] and batch["entries"] == [] and "trust under cyber attack" in batch["why"]
    with daemon.client() as c:  # a technician still sees what waits, to carry it out by hand
        batch = c.get("/api/v1/upstream/outbox").json()
        assert not batch["open"] and len(batch["entries"]) == 1
        assert c.get(f"/api/v1/upstream/outbox/{batch['entries'][0]['key']}").status_code == 200
    daemon.terminate()
    d2 = Daemon(root / "config.toml", root)
    procs.append(d2)
    d2.wait_ready()
    r = cli(root, "upstream", "status")
    assert r.returncode == 0 and "SUSPENDED" in r.stdout and "trust under cyber attack" in r.stdout, r.stdout
    rows = {c["check"]: c for c in json.loads(cli(root, "doctor", "--json").stdout)}
    assert rows["upstream gate"]["status"] == "WARN" and "export --pending" in rows["upstream gate"]["fix"]
    with as_uplink(d2) as up:
        assert not up.get("/api/v1/upstream/outbox").json()["open"]
    r = cli(root, "upstream", "resume", "--reason", "all clear")
    assert r.returncode == 0 and "OPEN" in r.stdout, r.stdout + r.stderr
    with as_uplink(d2) as up:
        batch = up.get("/api/v1/upstream/outbox").json()
        assert batch["open"] and len(batch["entries"]) == 1
        key = batch["entries"][0]["key"]
        up.post("/api/v1/upstream/suspend", json={"reason": "uplink: pin mismatch"}).raise_for_status()
        assert up.get(f"/api/v1/upstream/outbox/{key}").status_code == 423


def test_refusals_become_dead_letters_a_technician_can_requeue(root: Path, daemon: Daemon) -> None:
    close_encounter(daemon)
    with as_uplink(daemon) as up:
        key = up.get("/api/v1/upstream/outbox").json()["entries"][0]["key"]
        up.post(f"/api/v1/upstream/outbox/{key}/fail", json={"error": "503 Service Unavailable", "status": 503}
                ).raise_for_status()
        r = up.post(f"/api/v1/upstream/outbox/{key}/dead", json={"error": "Patient.birthDate: invalid", "status": 400})
        assert r.json()["state"] == "dead" and r.json()["attempts"] == 2
        assert up.get("/api/v1/upstream/outbox").json()["entries"] == []
    r = cli(root, "upstream", "dead-letters")
    assert key in r.stdout and "Patient.birthDate: invalid" in r.stdout and "HTTP 400" in r.stdout
    r = cli(root, "upstream", "status")
    assert "1 refused" in r.stdout
    rows = {c["check"]: c for c in json.loads(cli(root, "doctor", "--json").stdout)}
    assert rows["upstream refusals"]["status"] == "FAIL" and "Patient.birthDate" in rows["upstream refusals"]["detail"]
    assert "requeue" in rows["upstream refusals"]["fix"]
    r = cli(root, "upstream", "requeue", key)
    assert r.returncode == 0, r.stderr
    with as_uplink(daemon) as up:
        assert [e["key"] for e in up.get("/api/v1/upstream/outbox").json()["entries"]] == [key]


def test_crew_sees_the_status_line_but_cannot_touch_the_gate(daemon: Daemon) -> None:
    with daemon.client() as local:
        code = local.post("/api/v1/pairing-codes", json={}).json()["code"]
        token = local.post("/api/v1/pair", json={"code": code, "name": "tablet"}).json()["token"]
    with daemon.client() as crew:
        crew.headers["Authorization"] = f"Bearer {token}"
        assert crew.get("/api/v1/upstream").json()["open"] is True
        assert crew.post("/api/v1/upstream/suspend", json={"reason": "x"}).status_code == 403
        assert crew.get("/api/v1/upstream/outbox").status_code == 403
    with daemon.client() as c:
        c.headers["Authorization"] = "Bearer ea1_not-a-token"  # a bad token is not rescued by the socket
        assert c.get("/api/v1/upstream").status_code == 401


def test_require_approval_needs_a_signature_from_a_trusted_key(root: Path, procs: list[Proc]) -> None:
    d = Daemon(upstream_config(root, approval=True), root)
    procs.append(d)
    d.wait_ready()
    close_encounter(d)
    with as_uplink(d) as up:
        batch = up.get("/api/v1/upstream/outbox").json()
    assert not batch["open"] and "waiting for an approval" in batch["why"] and batch["entries"] == []
    r = cli(root, "upstream", "resume")
    assert r.returncode == 2 and "needs an approval" in r.stderr
    generate_keypair(root / "impostor")
    cases = {
        "wrong-key": (approval_file(root, key=root / "impostor.key"), "not signed by a trusted key"),
        "other-vehicle": (approval_file(root, vehicle="AMB-007"), "for vehicle 'AMB-007'"),
        "expired": (approval_file(root, start=datetime.now(UTC) - timedelta(hours=5), hours=1), "expired"),
        "future": (approval_file(root, start=datetime.now(UTC) + timedelta(hours=5)), "not valid before"),
    }
    tampered = approval_file(root)
    tampered["approval"]["not_after"] = "2099-01-01T00:00:00Z"
    cases["tampered"] = (tampered, "not signed by a trusted key")
    for name, (doc, message) in cases.items():
        (root / f"{name}.json").write_text(json.dumps(doc))
        r = cli(root, "upstream", "resume", "--approval", str(root / f"{name}.json"))
        assert r.returncode == 2 and message in r.stderr, (name, r.stderr)
    r = cli(root, "upstream", "status")
    assert "CLOSED" in r.stdout
    # The authority's own tool, then the technician's.
    r = subprocess.run([sys.executable, "-m", "edge_app", "upstream", "approve", "--key", str(root / "authority.key"),
                        "--vehicle", VEHICLE, "--hours", "8", "--issued-by", "EOC duty manager",
                        "--out", str(root / "ok.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = cli(root, "upstream", "resume", "--approval", str(root / "ok.json"))
    assert r.returncode == 0 and "OPEN" in r.stdout and "EOC duty manager" in r.stdout, r.stdout + r.stderr
    with as_uplink(d) as up:
        assert len(up.get("/api/v1/upstream/outbox").json()["entries"]) == 1
    import sqlite3
    with sqlite3.connect(f"file:{root / 'edge.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT actor, action, detail FROM audit_log WHERE action LIKE 'upstream.%'").fetchall()
    resumed = [json.loads(r[2]) for r in rows if r[1] == "upstream.resume"]
    assert len(resumed) == 1 and resumed[0]["key"].startswith("SHA256:") and resumed[0]["approval"]
    assert cli(root, "audit", "verify").returncode == 0


def test_live_observations_are_cut_into_entries_with_the_handover_ids(root: Path, procs: list[Proc]) -> None:
    d = Daemon(upstream_config(root, live=True), root)
    procs.append(d)
    d.wait_ready()
    with d.client() as c:
        eid = c.post("/api/v1/encounters", json={}).json()["id"]
        for metric, value in (("bp_systolic", 120), ("bp_diastolic", 80), ("pulse_rate", 70)):
            c.post(f"/api/v1/encounters/{eid}/observations", json={"metric": metric, "value": value}
                   ).raise_for_status()
    with as_uplink(d) as up:
        entries = up.get("/api/v1/upstream/outbox").json()["entries"]
        assert [e["kind"] for e in entries] == ["observations"]
        live = up.get(f"/api/v1/upstream/outbox/{entries[0]['key']}").json()["bundle"]
        up.post(f"/api/v1/upstream/outbox/{entries[0]['key']}/ack").raise_for_status()
        assert up.get("/api/v1/upstream/outbox").json()["entries"] == []
    with d.client() as c:
        c.patch(f"/api/v1/encounters/{eid}", json={"status": "closed"}).raise_for_status()
    with as_uplink(d) as up:
        entries = up.get("/api/v1/upstream/outbox").json()["entries"]
        assert [e["kind"] for e in entries] == ["encounter"]
        final = up.get(f"/api/v1/upstream/outbox/{entries[0]['key']}").json()["bundle"]

    def observation_urls(b: dict[str, Any]) -> set[str]:
        return {e["request"]["url"] for e in b["entry"] if e["resource"]["resourceType"] == "Observation"}

    assert len(observation_urls(live)) == 3
    assert observation_urls(live) <= observation_urls(final), "the handover re-sends the same Observations"


def c_chart(d: Daemon) -> bool:
    with d.client() as c:
        eid = c.get("/api/v1/encounters").json()[0]["id"]
        return c.post(f"/api/v1/encounters/{eid}/chart").status_code == 201


def test_live_observations_wake_the_uplink_at_once(root: Path, procs: list[Proc]) -> None:
    """With live_observations, what enters the record (a monitor's values charted, or an entry by hand) ends
    the uplink's long poll at once with an entry holding it, not at the poll's 5 s recheck. The monitor's
    full-rate series is not forwarded: it stays on the box."""
    sim = Simulator("masimo-ascii", root / "tty-ox", root / "sim.log", rate=2.0)
    procs.append(sim)
    extra = (f'[appliance]\nvehicle_id = "{VEHICLE}"\n[upstream]\ntarget = "fhir"\nurl = "http://127.0.0.1:9/fhir"\n'
             'live_observations = true\n')
    d = Daemon(write_config(root, [("ox", "masimo-ascii", root / "tty-ox")], extra=extra), root)
    procs.append(d)
    d.wait_ready()
    with d.client() as c:
        eid = c.post("/api/v1/encounters", json={}).json()["id"]
    with as_uplink(d) as up:
        def drain() -> None:
            for e in up.get("/api/v1/upstream/outbox").json()["entries"]:
                up.post(f"/api/v1/upstream/outbox/{e['key']}/ack").raise_for_status()

        def poll() -> tuple[float, list[dict[str, Any]]]:
            t0 = time.monotonic()
            entries = up.get("/api/v1/upstream/outbox", params={"wait": 30}, timeout=40).json()["entries"]
            return time.monotonic() - t0, entries

        for _ in range(3):  # the monitor sends every half second; the crew charts its values (k)
            drain()
            wait_for(lambda: c_chart(d), 10, "the monitor's values charted")
            took, entries = poll()
            assert entries and entries[0]["kind"] == "observations" and entries[0]["encounter_id"] == eid
            assert took < 4.0, f"the poll slept out its recheck ({took:.1f} s) while readings were stored"
    sim.terminate()
    with as_uplink(d) as up:
        wait_for(lambda: (drain(), time.sleep(1.5), not up.get("/api/v1/upstream/outbox").json()["entries"])[-1],
                 20, "the monitor's last readings forwarded")
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(poll)
            time.sleep(0.5)
            with d.client() as c:
                c.post(f"/api/v1/encounters/{eid}/observations", json={"metric": "resp_rate", "value": 22}
                       ).raise_for_status()
            took, entries = waiting.result()
        assert [e["kind"] for e in entries] == ["observations"] and took < 4.0, (took, entries)


def test_pending_records_leave_by_hand_as_a_signed_bundle(root: Path, daemon: Daemon) -> None:
    eids = {close_encounter(daemon) for _ in range(2)}
    assert cli(root, "upstream", "suspend", "--reason", "link down for days").returncode == 0
    out = root / "stick" / "bundle"
    r = cli(root, "export", "--pending", "--out", str(out))
    assert r.returncode == 0 and "wrote 2 records" in r.stdout, r.stdout + r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert {x["encounter_id"] for x in manifest["records"]} == eids and manifest["vehicle"] == VEHICLE

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edge_app", "verify-bundle", str(out), *extra], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    r = verify()
    assert r.returncode == 0 and "valid: 2 records from vehicle AMB-042" in r.stdout, r.stdout + r.stderr
    r = cli(root, "export", "--pending", "--out", str(out))  # never over an existing bundle
    assert r.returncode == 2 and "not empty" in r.stderr
    # Still queued on the box: sending both ways is harmless (each record is stored once).
    with daemon.client() as c:
        assert len(c.get("/api/v1/upstream/outbox").json()["entries"]) == 2
    generate_keypair(root / "other")
    r = verify("--key", str(root / "other.pub"))
    assert r.returncode == 1 and "SIGNATURE DOES NOT MATCH" in r.stdout
    rec = out / manifest["records"][0]["file"]
    original = rec.read_bytes()
    rec.write_bytes(original.replace(b'"final"', b'"amended"', 1))
    r = verify()
    assert r.returncode == 1 and "CHANGED" in r.stdout, r.stdout
    rec.write_bytes(original)
    (out / "records" / "extra.json").write_text("{}")
    r = verify()
    assert r.returncode == 1 and "not in the signed manifest" in r.stdout, r.stdout
    (out / "records" / "extra.json").unlink()
    (out / "manifest.json").write_text((out / "manifest.json").read_text().replace(VEHICLE, "AMB-007"))
    r = verify()
    assert r.returncode == 1 and "SIGNATURE DOES NOT MATCH" in r.stdout, r.stdout
