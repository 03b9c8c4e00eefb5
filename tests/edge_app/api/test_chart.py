"""The charted record: every manual entry, and the devices' current values charted at an interval, when
asked and at handover, not every 1 Hz reading; the full-rate series stays on the box (?resolution=raw)."""
from __future__ import annotations

from typing import Any

import pytest

from edge_app.model.observation import NewObservation
from edge_app.store.observations import insert_device_observations
from tests.edge_app.api.conftest import Api, now_ms

E = "/api/v1/encounters"
OXIMETERS = (("ox-a", "masimo-ascii", "/dev/null"), ("ox-b", "nonin-df7", "/dev/null"))
MIN = 60_000


def readings(api: Api, device: str, at: int, spo2: int, pulse: int, flags: tuple[str, ...] = ()) -> list[int]:
    return list(api.write(insert_device_observations([
        NewObservation(metric="spo2", value=spo2, unit="%", received_at=at, source="device", device=device, flags=flags),
        NewObservation(metric="pulse_rate", value=pulse, unit="/min", received_at=at, source="device", device=device,
                       flags=flags)])))


def listing(api: Api, eid: str, **params: Any) -> list[dict[str, Any]]:
    r = api.client.get(f"{E}/{eid}/observations", params={"limit": 10000, **params}, headers=api.crew)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


@pytest.mark.edge_config(devices=OXIMETERS)
def test_chart_now_copies_the_current_device_values_into_the_record(api: Api) -> None:
    eid = api.encounter()["id"]
    t = now_ms()
    for i in range(5):
        readings(api, "ox-a", t - 5000 + i * 1000, 95 + i % 2, 80)
    readings(api, "ox-b", t - 1000, 60, 40, flags=("sensor_off",))   # unreliable: never charted
    api.client.post(f"{E}/{eid}/observations", json={"metric": "resp_rate", "value": 18}, headers=api.crew)
    assert [o["metric"] for o in listing(api, eid)] == ["resp_rate"], "before any chart: the entries only"
    r = api.client.post(f"{E}/{eid}/chart", headers=api.crew)
    assert r.status_code == 201, r.text
    chart = r.json()
    assert chart["reason"] == "asked" and chart["encounter_id"] == eid
    assert sorted((o["metric"], o["value"], o["device"]) for o in chart["observations"]) == [
        ("pulse_rate", 80, "ox-a"), ("spo2", 95, "ox-a")]
    raw = listing(api, eid, resolution="raw")
    assert len(raw) == 5 * 2 + 2 + 1, "the full-rate series is every reading and entry, no copies"
    charted = listing(api, eid)
    assert sorted(o["metric"] for o in charted) == ["pulse_rate", "resp_rate", "spo2"]
    # a charted value is the reading as measured: its time and device, not the time it was charted
    last_a = [o for o in raw if o["device"] == "ox-a" and o["metric"] == "spo2"][-1]
    assert [o for o in charted if o["metric"] == "spo2"][0]["received_at"] == last_a["received_at"]
    # /vitals is unmoved by the copies
    assert api.client.get(f"{E}/{eid}/vitals", headers=api.crew).json()["vitals"]["spo2"]["observation_id"] == \
        last_a["id"]


def test_nothing_current_to_chart_is_409(api: Api) -> None:
    eid = api.encounter()["id"]
    r = api.client.post(f"{E}/{eid}/chart", headers=api.crew)
    assert r.status_code == 409 and "no device has a current value" in r.json()["detail"]


@pytest.mark.edge_config(devices=OXIMETERS)
def test_handing_over_charts_the_values_at_handover(api: Api) -> None:
    eid = api.encounter()["id"]
    readings(api, "ox-a", now_ms(), 93, 101)
    r = api.client.patch(f"{E}/{eid}", json={"status": "handed_over"}, headers=api.crew)
    assert r.status_code == 200, r.text
    assert sorted((o["metric"], o["value"]) for o in listing(api, eid)) == [("pulse_rate", 101), ("spo2", 93)]


@pytest.mark.edge_config(devices=OXIMETERS)
def test_an_18_minute_job_with_two_oximeters_sends_tens_of_observations(api: Api) -> None:
    """1 Hz from two oximeters for 18 minutes is 4,320 readings; charted every 5 minutes, the record that
    goes upstream has a few observation sets."""
    eid = api.encounter()["id"]
    vitals = api.services.vitals
    start = now_ms() - 18 * MIN
    reader = api.services.store.reader
    for s in range(18 * 60):
        at = start + s * 1000
        readings(api, "ox-a", at, 94 + s % 3, 80 + s % 5)
        readings(api, "ox-b", at, 95, 82)
        if vitals.chart_due(eid, at):  # as the daemon's vitals tick does
            assert vitals.chart(eid, "interval", "chart", now=at) is not None
        if s == 0:
            # the first chart is at once
            assert reader.last_chart_at(eid) == at
    assert len(listing(api, eid, resolution="raw")) == 4 * 18 * 60
    bundle = api.client.get(f"{E}/{eid}/fhir", headers=api.crew).json()
    observations = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert 8 <= len(observations) <= 40, len(observations)   # 4 sets x (SpO2, pulse) of the preferred oximeter
    assert {e["resource"]["device"]["reference"] for e in observations if "device" in e["resource"]} == \
        {next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Device")}


@pytest.mark.edge_config(devices=OXIMETERS, upstream=True, raw_series=True)
def test_raw_series_sends_the_full_rate_series_as_sampled_data_when_asked(api: Api) -> None:
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.bundle import Bundle

    eid = api.encounter()["id"]
    start = api.client.get(f"{E}/{eid}", headers=api.crew).json()["created_at"]
    for s in range(0, 7 * 60):  # 7 minutes at 1 Hz from ox-a, a second missing, one flagged
        if s == 10:
            continue
        readings(api, "ox-a", start + s * 1000, 96, 80, flags=("sensor_off",) if s == 11 else ())
    bundle = api.client.get(f"{E}/{eid}/fhir", headers=api.crew).json()
    Bundle.model_validate(bundle)
    series = [e["resource"] for e in bundle["entry"] if "valueSampledData" in e["resource"]]
    for res in series:
        get_fhir_model_class("Observation").model_validate(res)
    # a window per chart interval (5 min) per metric: two windows of SpO2 and two of pulse
    assert len(series) == 4
    spo2 = sorted((r for r in series if any(c["code"] == "59408-5" for c in r["code"]["coding"])),
                  key=lambda r: r["effectivePeriod"]["start"])
    first = spo2[0]["valueSampledData"]
    assert (first["period"], first["dimensions"], first["origin"]["code"]) == (1000, 1, "%")
    samples = first["data"].split(" ")
    assert len(samples) == 300 and samples[10] == "E" and samples[11] == "E" and samples[12] == "96"
    assert len(spo2[1]["valueSampledData"]["data"].split(" ")) == 120


@pytest.mark.edge_config(devices=OXIMETERS, upstream=True)
def test_without_raw_series_no_sampled_data_goes(api: Api) -> None:
    eid = api.encounter()["id"]
    readings(api, "ox-a", now_ms(), 96, 80)
    bundle = api.client.get(f"{E}/{eid}/fhir", headers=api.crew).json()
    assert not [e for e in bundle["entry"] if "valueSampledData" in e["resource"]]
