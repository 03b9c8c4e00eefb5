"""Config [clinical]: the settings of the current-vitals rule (clinical/vitals.py, docs/vitals.md).

```toml
[clinical]
manual_precedence_s = 300          # a manual entry outranks device readings this long (default 5 min)
chart_interval_s = 300             # the devices' current values are charted into the record this often
[clinical.fresh_device_s]          # per metric: how old a device reading may be and still be current
bp_systolic = 900
[clinical.fresh_manual_s]          # the same for the crew's own entries
resp_rate = 1800
```
Metrics not named keep their documented defaults (clinical.vitals.DEFAULT_FRESH_*).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from firmware_bridge.metrics import METRICS

# A value older than a day is never the patient's current state: no window may be longer.
MAX_WINDOW_S = 24 * 3600


class _TableLike(Protocol):
    def get(self, name: str, typ: type | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any: ...
    def err(self, name: str, msg: str) -> Exception: ...
    def done(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ClinicalConfig:
    manual_precedence_s: int = 300
    chart_interval_s: int = 300  # the devices' current values charted into the record this often; 0: never
    fresh_device_s: dict[str, int] = field(default_factory=dict)  # overrides of the defaults, by metric
    fresh_manual_s: dict[str, int] = field(default_factory=dict)


def _windows(t: _TableLike, key: str) -> dict[str, int]:
    raw = t.get(key, dict, {})
    out: dict[str, int] = {}
    known = sorted(str(m) for m in METRICS)
    for metric, seconds in raw.items():
        if metric not in known:
            raise t.err(f"{key}.{metric}", f"unknown metric (known: {', '.join(known)})")
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_WINDOW_S:
            raise t.err(f"{key}.{metric}", f"expected whole seconds from 1 to {MAX_WINDOW_S}, got {seconds!r}")
        out[metric] = seconds
    return out


def parse_clinical(t: _TableLike) -> ClinicalConfig:
    precedence = t.get("manual_precedence_s", int, 300)
    if not 0 <= precedence <= 3600:
        raise t.err("manual_precedence_s", f"expected 0 to 3600 seconds, got {precedence}")
    interval = t.get("chart_interval_s", int, 300)
    if interval != 0 and not 60 <= interval <= 3600:
        raise t.err("chart_interval_s", f"expected 60 to 3600 seconds (or 0: only when asked), got {interval}")
    cfg = ClinicalConfig(manual_precedence_s=precedence, chart_interval_s=interval,
                         fresh_device_s=_windows(t, "fresh_device_s"),
                         fresh_manual_s=_windows(t, "fresh_manual_s"))
    t.done()
    return cfg
