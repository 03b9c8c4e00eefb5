"""Vitals entries for the TUI's tests: what the daemon's one rule would send, in one line."""
from __future__ import annotations

from typing import Any

from edge_app.model.vitals import VitalSign, VitalSource, VitalState


def vital(metric: str, value: Any, time_ms: int | None, source: str | None = "oximeter", *,
          state: VitalState = "current", fresh_for_s: int = 120, flags: list[str] | None = None,
          others: list[VitalSource] | None = None, observation_id: int = 1) -> VitalSign:
    return VitalSign(metric=metric, value=value, unit="", time=time_ms, age_s=0, source=source,
                     stale=state == "stale", state=state, flags=flags or [], observation_id=observation_id,
                     fresh_for_s=fresh_for_s, reason="", disagree=bool(others), others=others or [])


def other(source: str, value: Any, time_ms: int, *, reliable: bool = True, stale: bool = False,
          flags: list[str] | None = None) -> VitalSource:
    return VitalSource(source=source, value=value, time=time_ms, age_s=0, stale=stale, reliable=reliable,
                       flags=flags or [], observation_id=99)
