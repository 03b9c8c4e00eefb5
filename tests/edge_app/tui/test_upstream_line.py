"""The crew notices an upstream problem as one line, and nothing else changes for them (journey: the
hospital network is gone; the box keeps every record)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import Static

from edge_app.model.upstream import UpstreamStatus
from edge_app.tui.app import VitalsApp, upstream_words
from tests.e2e.harness import Daemon, write_config
from tests.edge_app.tui.test_encounter_flow import SIZE, until


@pytest.fixture
def forwarding_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("tui-up")
    d = Daemon(write_config(root, extra='[appliance]\nvehicle_id = "AMB-1"\n[upstream]\ntarget = "fhir"\n'
                                         'url = "http://127.0.0.1:9/fhir"\n'), root)
    try:
        yield d.wait_ready()
    finally:
        d.terminate()


def line(app: VitalsApp) -> str | None:
    bar = app.screen.query_one("#upstream", Static)
    return str(bar.content) if bar.display else None


async def test_suspension_and_refusals_show_as_one_line(forwarding_daemon: Daemon) -> None:
    d = forwarding_daemon
    app = VitalsApp(d.socket)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connected and "upstream forwarding" in app.status_summary, "the status")
        assert line(app) is None, "all well: nothing to say"
        with d.client() as c:
            c.post("/api/v1/upstream/suspend", json={"reason": "trust under attack"}).raise_for_status()
            eid = c.post("/api/v1/encounters", json={}).json()["id"]
            c.patch(f"/api/v1/encounters/{eid}", json={"status": "closed"}).raise_for_status()
        text = await until(pilot, lambda: (t := line(app)) and "1 record waiting" in t and t, "the upstream line")
        assert "UPSTREAM SUSPENDED (trust under attack)" in text and "kept safe" in text
        with d.client() as c:
            c.post("/api/v1/upstream/resume", json={}).raise_for_status()
            key = c.get("/api/v1/upstream/outbox").json()["entries"][0]["key"]
            c.post(f"/api/v1/upstream/outbox/{key}/dead", json={"error": "Patient.birthDate: invalid date",
                                                                 "status": 400}).raise_for_status()
        text = await until(pilot, lambda: (t := line(app)) and "REFUSED" in t and t, "the refusal")
        assert "Patient.birthDate: invalid date" in text and "technician" in text
        assert "SUSPENDED" not in text
        assert app.screen.query_one("#upstream", Static).has_class("refused")


def _status(**kw: Any) -> UpstreamStatus:
    base: dict[str, Any] = dict(configured=True, target="fhir", url="http://127.0.0.1:9/fhir", vehicle="AMB-1",
                                open=True, why="forwarding", suspended=False, reason=None, since=None, by=None,
                                approval=None, order=None, require_approval=False, live_observations=False,
                                pending=0, dead=0, sent=0, oldest_pending_at=None, last_ok_at=None, last_error=None,
                                last_error_at=None, uplink_seen_at=None)
    return UpstreamStatus(**(base | kw))


@pytest.mark.parametrize(("status", "expected"), [
    (_status(configured=False, open=False), None),
    (_status(pending=3), None),
    (_status(open=False, why="waiting for an approval", pending=1),
     "UPSTREAM CLOSED (waiting for an approval): 1 record waiting, kept safe on this box"),
])
def test_upstream_words(status: UpstreamStatus, expected: str | None) -> None:
    assert upstream_words(status) == expected
