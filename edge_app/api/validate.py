"""Checks on manual observations: vocabulary, value kind, unit, plausible range, time."""
from __future__ import annotations

import math
from datetime import datetime

from litestar.exceptions import ClientException

from firmware_bridge.metrics import ACVPU, METRICS, Metric, ValueKind

from edge_app.api.schemas import ObservationCreate

# A clinician may back-date an entry ("given at 10:42") but not by days, nor into the future.
MAX_BACKDATE_MS = 24 * 3600 * 1000
MAX_AHEAD_MS = 5 * 60 * 1000


def bad(detail: str) -> ClientException:
    return ClientException(detail=detail, status_code=400)


def manual_value(data: ObservationCreate) -> tuple[Metric, float | str | bool, str]:
    """The metric, the value to store and its canonical unit, or a 400 saying what is wrong."""
    try:
        metric = Metric(data.metric)
    except ValueError:
        raise bad(f"unknown metric {data.metric!r}; known: {', '.join(m.value for m in Metric)}") from None
    info = METRICS[metric]
    if data.unit is not None and data.unit != info.unit:
        raise bad(f"{metric}: unit must be {info.unit!r} (the canonical unit), got {data.unit!r}")
    value = data.value
    if info.kind is ValueKind.BOOLEAN:
        if not isinstance(value, bool):
            raise bad(f"{metric}: value must be true or false")
        return metric, value, info.unit
    if info.kind is ValueKind.TEXT:
        if not isinstance(value, str) or value.upper() not in ACVPU:
            raise bad(f"{metric}: value must be one of {', '.join(ACVPU)}")
        return metric, value.upper(), info.unit
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad(f"{metric}: value must be a number")
    if info.low is not None and info.high is not None and not info.low <= value <= info.high:
        raise bad(f"{metric}: {value:g} is outside {info.low:g}..{info.high:g} {info.unit}")
    if metric in (Metric.GCS_EYE, Metric.GCS_VERBAL, Metric.GCS_MOTOR, Metric.GCS_TOTAL, Metric.PAIN_SCORE) \
            and not float(value).is_integer():
        raise bad(f"{metric}: value must be a whole number")
    return metric, float(value), info.unit


def manual_time(data: ObservationCreate, now_ms: int) -> int:
    """When it was observed (epoch ms); defaults to now."""
    t = data.time
    if t is None:
        return now_ms
    if isinstance(t, str):
        try:
            parsed = datetime.fromisoformat(t)
        except ValueError:
            raise bad(f"time: {t!r} is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise bad("time: give a UTC offset (e.g. 2026-11-23T10:42:00Z)")
        t = int(parsed.timestamp() * 1000)
    if t > now_ms + MAX_AHEAD_MS:
        raise bad("time: is in the future")
    if t < now_ms - MAX_BACKDATE_MS:
        raise bad("time: is more than 24 h ago")
    return t
