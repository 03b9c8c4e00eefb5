"""The full-rate series of a monitor as FHIR R4 SampledData: one Observation per device, metric and chart
interval, sent only when [upstream] raw_series asks for it (the record itself carries observation sets).

Pure: the raw device readings in, windows of samples out; fhir.py makes the resources. FHIR R4
SampledData (https://hl7.org/fhir/R4/datatypes.html#SampledData) needs a fixed period: samples are put
on a 1 s grid from the window's start (the monitors here send at 1 Hz; a faster one keeps the last
reading of each second), and a second with no reading, or only readings the device flagged unreliable,
is "E" (FHIR: error, no valid value), so a gap is never drawn as a value.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from firmware_bridge.flags import is_unreliable
from firmware_bridge.metrics import METRICS, Metric, ValueKind

from edge_app.model.observation import Observation

PERIOD_MS = 1000
_KNOWN = frozenset(str(m) for m in Metric)


@dataclass(frozen=True, slots=True)
class SeriesWindow:
    device: str
    metric: str
    index: int  # the window's number from the series' start: part of its resource id
    start_ms: int
    end_ms: int  # the last sample's time
    unit: str
    data: str  # SampledData.data: one value or "E" per PERIOD_MS


def _shown(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{round(float(value), 2):g}"


def series_windows(readings: Sequence[Observation], interval_ms: int, start_ms: int) -> list[SeriesWindow]:
    """Windows of `interval_ms` from start_ms (the encounter's start) of each device's numeric readings."""
    slots: dict[tuple[str, str, int], dict[int, str]] = {}
    units: dict[str, str] = {}
    for o in sorted(readings, key=lambda r: r.id):
        info = METRICS.get(Metric(o.metric)) if o.metric in _KNOWN else None
        if o.source != "device" or not o.device or info is None or info.kind is not ValueKind.NUMBER:
            continue
        if isinstance(o.value, bool) or not isinstance(o.value, int | float):
            continue
        offset = max(0, o.received_at - start_ms)
        window, within = divmod(offset, interval_ms)
        slot = slots.setdefault((o.device, o.metric, window), {})
        slot[within // PERIOD_MS] = "E" if is_unreliable(o.flags) else _shown(o.value)
        units[o.metric] = info.unit
    out = []
    for (device, metric, window), got in sorted(slots.items()):
        last = max(got)
        start = start_ms + window * interval_ms
        out.append(SeriesWindow(device=device, metric=metric, index=window, start_ms=start,
                                end_ms=start + last * PERIOD_MS, unit=units[metric],
                                data=" ".join(got.get(i, "E") for i in range(last + 1))))
    return out
