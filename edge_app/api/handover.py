"""Handover documents: ATMIST and the written summary as text, and the record as a FHIR R4 Bundle."""
from __future__ import annotations

import heapq
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, MediaType, Request, Response, get
from litestar.params import Parameter

from edge_app.api.common import EncounterId, actor_of, now_ms, store_call
from edge_app.api.context import AppContext
from edge_app.api.observations import age_years, news2_of
from edge_app.store.queries import Reader, newest

# ids in a bundle are uuid5s under this namespace, from row ids and fixed words, never patient data
ID_NAMESPACE = uuid.UUID("5f0d7c3e-2a51-4c6b-9e7a-0c1d2e3f4a5b")
NEWS2_METRICS = {"resp_rate", "spo2", "oxygen_supplement", "bp_systolic", "heart_rate", "pulse_rate",
                 "consciousness", "temperature"}


def all_observations(reader: Reader, encounter_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while page := reader.observations(encounter_id=encounter_id, after=after, limit=10_000):
        out += page
        after = page[-1]["id"]
    return out


def news2_trend(observations: list[dict[str, Any]], scale: int, age: int | None) -> list[tuple[int, int]]:
    """(time, total) each time the NEWS2 total changed, replaying the observations as they happened.

    Device readings replay in the order they were stored (id), manual entries in the order of their stated
    times, the two merged by time; each metric's value at each step is picked as Reader.latest_values
    picks it (store.queries.newest). So a back-dated entry lands where it belongs, and after the wall
    clock stepped back the readings still replay in order and the last total is the current NEWS2.
    """
    news2_obs = [o for o in observations if o["metric"] in NEWS2_METRICS]
    devices = sorted((o for o in news2_obs if o["source"] == "device"), key=lambda o: o["id"])
    manual_entries = sorted((o for o in news2_obs if o["source"] != "device"),
                            key=lambda o: (o["received_at"], o["id"]))
    device: dict[str, dict[str, Any]] = {}
    manual: dict[str, dict[str, Any]] = {}
    latest: dict[str, dict[str, Any]] = {}
    trend: list[tuple[int, int]] = []
    for o in heapq.merge(devices, manual_entries, key=lambda o: o["received_at"]):
        metric = o["metric"]
        (device if o["source"] == "device" else manual)[metric] = o
        pick = newest(device.get(metric), manual.get(metric))
        if pick is None or pick is latest.get(metric):
            continue  # e.g. a reading from before the manual entry now in force: nothing changes
        latest[metric] = pick
        total = news2_of(latest, scale, age).total
        if total is not None and (not trend or trend[-1][1] != total):
            trend.append((o["received_at"], total))
    return trend


def handover_inputs(reader: Reader, encounter_id: str, now: int) -> dict[str, Any]:
    """Everything the handover documents are made from, read in one go."""
    record = reader.encounter(encounter_id)
    observations = all_observations(reader, encounter_id)
    age = age_years(record["patient"], now)
    latest = reader.latest_values(encounter_id)
    news2 = msgspec.to_builtins(news2_of(latest, record["spo2_scale"], age))
    return {"record": record, "latest": latest, "news2": news2, "observations": observations,
            "news2_trend": news2_trend(observations, record["spo2_scale"], age)}


def fhir_bundle(reader: Reader, encounter_id: str, now: int, *, panels: bool = True,
                observations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The encounter's Bundle; with observations, only those (a live batch: see encounter_bundle)."""
    from edge_app.clinical.fhir import encounter_bundle

    record = reader.encounter(encounter_id)
    if observations is None:
        observations = all_observations(reader, encounter_id)
    used = {o["device"] for o in observations if o["device"]}
    devices = [d for d in reader.devices() if d["name"] in used]
    return encounter_bundle(record, observations, devices, now_ms=now, panels=panels,
                            id_for=lambda key: str(uuid.uuid5(ID_NAMESPACE, f"{encounter_id}/{key}")))


def handover_text(reader: Reader, encounter_id: str, fmt: str, now: int) -> str:
    from edge_app.clinical import handover

    inputs = handover_inputs(reader, encounter_id, now)
    render = handover.atmist if fmt == "atmist" else handover.summary
    return render(inputs["record"], inputs["latest"], inputs["news2"], inputs["news2_trend"], inputs["observations"],
                  now_ms=now)


class HandoverController(Controller):
    path = "/api/v1/encounters/{encounter_id:str}"
    tags = ["handover"]

    @get("/fhir", summary="The record as a FHIR R4 transaction Bundle (PUT by client-assigned UUIDs)",
         sync_to_thread=True, media_type="application/fhir+json")
    def fhir(self, ctx: AppContext, encounter_id: EncounterId, request: Request[Any, Any, Any]
             ) -> Response[dict[str, Any]]:
        # The same resources (same ids) as the uplink sends, so a record both exported and forwarded is one record.
        live = ctx.config.upstream is not None and ctx.config.upstream.live_observations
        bundle = store_call(lambda: fhir_bundle(ctx.reader, encounter_id, now_ms(), panels=not live))
        ctx.audit(actor_of(request), "encounter.export", encounter_id, {"format": "fhir"})
        return Response(bundle, media_type="application/fhir+json")

    @get("/handover", summary="Handover as text: ATMIST to read aloud, or the full written summary",
         sync_to_thread=True, media_type=MediaType.TEXT)
    def handover(self, ctx: AppContext, encounter_id: EncounterId, request: Request[Any, Any, Any],
                 format: Annotated[Literal["atmist", "summary"], Parameter(query="format")] = "atmist") -> str:
        text = store_call(lambda: handover_text(ctx.reader, encounter_id, format, now_ms()))
        ctx.audit(actor_of(request), "encounter.export", encounter_id, {"format": format})
        return text
