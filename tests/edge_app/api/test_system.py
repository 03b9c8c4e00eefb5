"""Health, status, devices, the live stream, the published schema, and what any path answers (OPTIONS,
405, 404) before a handler is reached."""
from __future__ import annotations

import pytest

from edge_app import __version__
from edge_app.model.events import UpstreamChanged
from tests.edge_app.api.conftest import Api, now_ms

OXIMETER = ("ox", "masimo-ascii", "/dev/edge-app-test-no-such-tty")


def test_healthz_needs_nothing(api: Api) -> None:
    r = api.client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_status_is_daemon_store_and_counts(api: Api) -> None:
    eid = api.encounter()["id"]
    api.client.post(f"/api/v1/encounters/{eid}/observations", json={"metric": "spo2", "value": 97},
                    headers=api.crew)
    r = api.client.get("/api/v1/status", headers=api.uplink)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["version"] == __version__ and doc["started_at"] <= now_ms()
    assert doc["active_encounter"] == eid and doc["devices"] == []
    assert doc["store"]["path"] == str(api.services.config.db_path) and doc["store"]["last_error"] is None
    assert doc["store"]["ops"] >= doc["store"]["batches"] > 0
    assert doc["counts"]["encounters_open"] == 1 and doc["counts"]["unassigned"] == 0
    assert doc["upstream"] == "upstream not configured"
    assert doc["summary"] == "ready: 0 devices (0 connected), 1 open encounters, 0 unassigned readings; " \
                             "upstream not configured"


@pytest.mark.edge_config(upstream=True)
def test_status_says_how_forwarding_goes(api: Api) -> None:
    assert api.client.get("/api/v1/status", headers=api.crew).json()["upstream"] == "upstream forwarding, 0 waiting"
    api.client.post("/api/v1/upstream/suspend", json={"reason": "maintenance"}, headers=api.technician)
    doc = api.client.get("/api/v1/status", headers=api.crew).json()
    assert doc["upstream"] == "upstream SUSPENDED (maintenance), 0 waiting"
    assert doc["summary"].endswith("; upstream SUSPENDED (maintenance), 0 waiting")


@pytest.mark.edge_config(devices=(OXIMETER,))
def test_devices_lists_each_configured_monitor(api: Api) -> None:
    r = api.client.get("/api/v1/devices", headers=api.crew)
    assert r.status_code == 200, r.text
    [dev] = r.json()
    assert (dev["name"], dev["protocol"], dev["port"]) == OXIMETER
    assert dev["state"] == "searching" and dev["latest"] == {} and dev["info"] == {}
    assert dev["counters"]["received"] == dev["counters"]["committed"] == dev["counters"]["dropped"] == 0
    assert {"bytes_in", "frames_ok", "frames_bad", "store_failures", "unstored"} <= set(dev["counters"])
    status = api.client.get("/api/v1/status", headers=api.crew).json()
    assert status["devices"] == [dev] and status["summary"].startswith("ready: 1 devices (0 connected)")


def test_devices_without_monitors_is_empty(api: Api) -> None:
    assert api.client.get("/api/v1/devices", headers=api.technician).json() == []


@pytest.mark.edge_config(devices=(OXIMETER,))
def test_the_stream_opens_with_the_devices_and_sends_what_happens(api: Api) -> None:
    eid = api.encounter()["id"]  # event 1, before the stream: replayed after Last-Event-ID 0
    with api.exchange("GET", "/api/v1/stream", {**api.crew, "Last-Event-ID": "0"}) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-store"
        kind, device, event_id = stream.event()
        assert (kind, device["name"], event_id) == ("device", "ox", None), "a snapshot first, without an id"
        kind, enc, event_id = stream.event()
        assert (kind, enc["id"], event_id) == ("encounter", eid, 1)
        # The stream is subscribed once it replays: what happens from now on arrives live.
        r = api.client.post(f"/api/v1/encounters/{eid}/observations", json={"metric": "resp_rate", "value": 18},
                            headers=api.crew)
        kind, obs, event_id = stream.event()
        assert (kind, obs, event_id) == ("observation", {"kind": "observation", **r.json()}, 2), \
            "the record as the API returns it, with its kind"
        kind, vitals, event_id = stream.event()
        assert (kind, vitals["encounter_id"], vitals["vitals"]["resp_rate"]["value"], event_id) == \
            ("vitals", eid, 18, 3)
        kind, news2, event_id = stream.event()
        assert (kind, news2["encounter_id"], news2["parameters"]["resp_rate"], event_id) == ("news2", eid, 0, 4)
        assert api.services.hub.subscribers == 1
    assert api.services.hub.subscribers == 0, "hanging up ends the subscription"


def test_a_stream_that_cannot_be_replayed_starts_with_reset(api: Api) -> None:
    api.encounter()
    with api.exchange("GET", "/api/v1/stream", {**api.crew, "Last-Event-ID": "99"}) as stream:
        kind, data, event_id = stream.event()
        assert kind == "reset" and "reload state from the API" in data["reason"] and event_id is None
        # the hub is the loop's: publish from there
        api.on_loop(api.services.hub.publish, UpstreamChanged(changed_at=5))
        assert stream.event() == ("upstream", {"kind": "upstream", "changed_at": 5}, 2)


def test_the_stream_refuses_without_a_token(api: Api) -> None:
    with api.exchange("GET", "/api/v1/stream") as stream:
        assert stream.status == 401 and "pair this tablet" in stream.json()["detail"]
    with api.exchange("GET", "/api/v1/stream", api.uplink) as stream:
        assert stream.status == 403
    assert api.services.hub.subscribers == 0


def test_a_too_long_last_event_id_is_422(api: Api) -> None:
    r = api.client.get("/api/v1/stream", headers={**api.crew, "Last-Event-ID": "1" * 21})
    assert r.status_code == 422 and "last_event_id" in r.json()["detail"], r.text


def test_a_last_event_id_of_other_digits_is_not_a_crash(api: Api) -> None:
    with api.exchange("GET", "/api/v1/stream", {**api.crew, "Last-Event-ID": "\xb2"}) as stream:
        assert stream.status == 200


def test_the_schema_documents_every_error(api: Api) -> None:
    r = api.client.get("/schema/openapi.json")
    assert r.status_code == 200
    schema = r.json()
    assert schema["info"]["title"] == "edge-app" and schema["info"]["version"] == __version__
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail"]
    ops = [(p, m, op) for p, item in schema["paths"].items() if p.startswith("/api/v1") for m, op in item.items()]
    assert len(ops) > 30
    for path, method, op in ops:
        expected = {"400", "403", "404", "405", "409", "413", "422", "429", "503"} | (
            set() if path == "/api/v1/pair" else {"401"})
        assert expected <= set(op["responses"]), (method, path)
    times = schema["paths"]["/api/v1/encounters/{encounter_id}/times/{which}"]["post"]
    assert times["requestBody"]["required"] is False, "a stamp without a body means now"
    assert api.client.get("/schema/openapi.yaml").text.startswith(("openapi:", "info:", "components:"))


def test_options_is_answered_from_the_schema_without_a_token(api: Api) -> None:
    r = api.client.options("/api/v1/tokens")
    assert r.status_code == 204 and r.headers["allow"] == "GET, OPTIONS"
    r = api.client.options("/api/v1/encounters/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 204 and r.headers["allow"] == "GET, OPTIONS, PATCH"


def test_head_is_not_served(api: Api) -> None:
    """No route has HEAD: 405, even with a token."""
    r = api.client.head("/api/v1/encounters", headers=api.crew)
    assert r.status_code == 405 and r.headers["allow"] == "GET, OPTIONS, POST"


def test_an_unknown_path_is_a_json_404_with_or_without_a_token(api: Api) -> None:
    """The router answers before the middleware (it runs on matched routes only): today a caller without a
    token learns which paths do not exist."""
    for headers in (api.crew, {}):
        r = api.client.get("/api/v1/nothing-here", headers=headers)
        assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    assert api.client.get("/nothing-here").status_code == 404
