"""The live stream's events: a tagged union, each event's kind in its `kind` field and its SSE event name.

The daemon publishes them on its hub; GET /api/v1/stream sends each as `event: KIND` with the event as
JSON data; clients decode the data as StreamEvent and dispatch on the type. The payload of each is the
record it is about (a reading, a device, an encounter...), with `kind` added.
"""
from __future__ import annotations

from typing import Union

import msgspec

from edge_app.model.devices import Device
from edge_app.model.encounter import Encounter
from edge_app.model.news2 import News2
from edge_app.model.observation import Observation, Value
from edge_app.model.vitals import VitalSign


class LiveReading(msgspec.Struct, frozen=True, tag="reading", tag_field="kind"):
    """A device reading as decoded, before it is committed (the screen may show it at once)."""

    device: str
    metric: str
    value: Value
    unit: str
    time: int
    device_time: int | None
    flags: list[str]


class DeviceChanged(Device, frozen=True, tag="device", tag_field="kind"):
    """A device's state, counters or latest values changed (also sent to each new client, once per device)."""


class ObservationAdded(Observation, frozen=True, tag="observation", tag_field="kind"):
    """A clinician's entry, committed."""


class EncounterChanged(Encounter, frozen=True, tag="encounter", tag_field="kind"):
    """An encounter was opened or changed: the whole record after the change."""


class News2Changed(News2, frozen=True, tag="news2", tag_field="kind", kw_only=True):
    """An encounter's NEWS2 changed (an input, the scale, the patient's age)."""

    encounter_id: str


class VitalsChanged(msgspec.Struct, frozen=True, tag="vitals", tag_field="kind"):
    """An encounter's current vitals changed (a new reading, an entry, a value turning stale), with the
    NEWS2 scored from exactly these: the cab screen draws its tiles and its score from this one event."""

    encounter_id: str
    at: int
    vitals: dict[str, VitalSign]
    news2: News2


class UpstreamChanged(msgspec.Struct, frozen=True, tag="upstream", tag_field="kind"):
    """The gate or the outbox changed: read GET /api/v1/upstream again."""

    changed_at: int


class StreamReset(msgspec.Struct, frozen=True, tag="reset", tag_field="kind"):
    """The events since the client's Last-Event-ID are gone: reload state from the query API."""

    reason: str


StreamEvent = Union[LiveReading, DeviceChanged, ObservationAdded, EncounterChanged, News2Changed,  # noqa: UP007
                    VitalsChanged, UpstreamChanged, StreamReset]
EVENT_TYPES: tuple[type[msgspec.Struct], ...] = StreamEvent.__args__  # type: ignore[attr-defined]


def kind_of(event: StreamEvent) -> str:
    """The event's kind: its tag, and its SSE event name."""
    return str(type(event).__struct_config__.tag)


_DECODER = msgspec.json.Decoder(StreamEvent)


def decode_event(data: str | bytes) -> StreamEvent | None:
    """An event from a stream message's data; None for a kind this client does not know (a newer daemon)."""
    try:
        return _DECODER.decode(data)
    except msgspec.ValidationError:
        return None
