"""A big-number vital-sign tile: value, unit, source and age, stale, unreliable and no data said in words,
what another source says when it differs, and a 15-minute trend line."""
from __future__ import annotations

import time
from collections import deque
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Digits, Sparkline, Static

from edge_app.model.vitals import VitalSign

TREND_S = 15 * 60
TREND_BUCKETS = 30
# A trend point further than this in the future is from before the wall clock was stepped back: dropped
# (so it does not come back into the trend, among other readings, once the clock has caught up). More
# than the 5 minutes ahead the API allows a manual entry's time (a tablet's clock a little ahead).
FUTURE_SLACK_S = 10 * 60


def age_words(age_s: float) -> str:
    return f"{age_s:.0f} s" if age_s < 120 else f"{age_s / 60:.0f} min"


def format_value(value: Any, decimals: int) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.{decimals}f}"


def trend_buckets(points: deque[tuple[float, float]], now: float) -> list[float]:
    """Means per 30 s over the last 15 min; a gap (probe off, unplugged) sits clearly below the data."""
    sums = [0.0] * TREND_BUCKETS
    counts = [0] * TREND_BUCKETS
    start = now - TREND_S
    for t, v in points:
        i = int((t - start) / (TREND_S / TREND_BUCKETS))
        if 0 <= i < TREND_BUCKETS:
            sums[i] += v
            counts[i] += 1
    means = [s / c for s, c in zip(sums, counts, strict=True) if c]
    if not means:
        return []
    lo, hi = min(means), max(means)
    gap = lo - max((hi - lo) / 2, 1.0)
    return [s / c if c else gap for s, c in zip(sums, counts, strict=True)]


class VitalTile(Vertical):
    """One metric: `vital` is its current value as the daemon's one rule picked it (GET .../vitals, the
    stream's vitals event), so the tile shows exactly what NEWS2 scores and the handover reads."""

    vital: reactive[VitalSign | None] = reactive(None, always_update=True)
    now: reactive[float] = reactive(0.0)

    def __init__(self, label: str, metrics: tuple[str, ...], unit: str, *, decimals: int = 0, id: str,
                 pair: str | None = None) -> None:
        super().__init__(id=id, classes="tile")
        self.label = label
        self.metrics = metrics  # what the tile shows: one metric, or pulse (heart_rate or pulse_rate)
        self.unit = unit
        self.decimals = decimals
        self.pair = pair  # a second metric shown after a slash (BP diastolic)
        self.pair_vital: VitalSign | None = None
        self.points: deque[tuple[float, float]] = deque(maxlen=20_000)
        self._arrived: tuple[float, float] = (0.0, 0.0)  # (time.monotonic(), age in s) when `vital` was set

    def compose(self) -> ComposeResult:
        yield Digits("--", classes="tile-digits")
        yield Static("no data", classes="tile-caption")
        yield Sparkline([], classes="tile-trend")

    def add_point(self, time_ms: int, value: Any) -> None:
        """Remember a value for the trend line (numbers only)."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.points.append((time_ms / 1000, float(value)))

    def show(self, vital: VitalSign | None, pair: VitalSign | None = None) -> None:
        """The tile's value (and its pair's) from the current vitals."""
        self.pair_vital = pair
        old = self.vital
        if vital is not None and vital.time is not None and (old is None or old.observation_id != vital.observation_id):
            self._arrived = (time.monotonic(), max(0.0, time.time() - vital.time / 1000, float(vital.age_s or 0)))
        self.vital = vital

    def _shown(self, v: VitalSign) -> str:
        shown = format_value(v.value, self.decimals)
        if self.pair is not None:
            p = self.pair_vital
            shown += "/" + ("--" if p is None or p.value is None else format_value(p.value, self.decimals))
        return shown

    def age(self) -> float:
        """Seconds since the shown value was taken, by the wall clock, but never less than the time it has
        been on screen by the monotonic clock: a wall clock stepped back (NTP, GPS) must not make an old
        value look live (by the wall clock alone it would, until the clock caught up)."""
        v = self.vital
        if v is None or v.time is None:
            return float("inf")
        at, age_then = self._arrived
        return max(0.0, (self.now or time.time()) - v.time / 1000, age_then + time.monotonic() - at)

    def _also(self, v: VitalSign) -> str:
        """What other sources say, when they differ (or doubt): the crew sees both."""
        words = []
        for o in v.others:
            if not o.reliable:
                words.append(f"{o.source}: {', '.join(o.flags) or 'unreliable'}")
            elif not o.stale and format_value(o.value, self.decimals) != format_value(v.value, self.decimals):
                words.append(f"{o.source} {format_value(o.value, self.decimals)}")
        return f"\nalso {' · '.join(words)}" if words else ""

    def _state(self) -> tuple[str, str, str]:
        v = self.vital
        if v is None:
            return "--", f"{self.label}: no data", "nodata"
        if v.value is None:
            flags = ", ".join(v.flags) or "flagged by the device"
            return "--", f"{self.label}: NO RELIABLE READING ({flags}){self._also(v)}", "nodata"
        age = self.age()
        shown = self._shown(v)
        flags = f" [{', '.join(v.flags)}]" if v.flags else ""
        # Stale by the daemon's rule, or by this screen's own clock if no word came since (stream lost).
        if v.state == "stale" or age > v.fresh_for_s:
            return shown, f"{self.label} {shown} {self.unit} STALE {age_words(age)}\n{v.source}{flags}", "stale"
        return shown, f"{self.label} {shown} {self.unit} · {age_words(age)}\n{v.source}{flags}{self._also(v)}", "live"

    def _refresh(self) -> None:
        if not self.children:  # reactive fired before compose
            return
        digits, caption, state = self._state()
        self.query_one(Digits).update(digits)
        self.query_one(".tile-caption", Static).update(caption)
        for s in ("live", "stale", "nodata"):
            self.set_class(s == state, s)

    def watch_vital(self, vital: VitalSign | None) -> None:
        self._refresh()

    def watch_now(self, now: float) -> None:
        self._refresh()
        if self.children and int(now) % 5 == 0:  # the trend moves in 30 s steps: redraw it now and then
            self.refresh_trend(now)

    def refresh_trend(self, now: float | None = None) -> None:
        now = now or time.time()
        # Not popleft(): points are in arrival order, which is not time order after a backward step.
        self.points = deque((p for p in self.points if now - TREND_S <= p[0] <= now + FUTURE_SLACK_S),
                            maxlen=self.points.maxlen)
        self.query_one(Sparkline).data = trend_buckets(self.points, now)

    def on_mount(self) -> None:
        self._refresh()


# (label, metrics, unit, decimals, pair, id) for the cab screen, most urgent first.
TILES: tuple[tuple[str, tuple[str, ...], str, int, str | None, str], ...] = (
    ("SpO2", ("spo2",), "%", 0, None, "tile-spo2"),
    ("Pulse", ("heart_rate", "pulse_rate"), "/min", 0, None, "tile-pulse"),
    ("BP", ("bp_systolic",), "mmHg", 0, "bp_diastolic", "tile-bp"),
    ("RR", ("resp_rate",), "/min", 0, None, "tile-rr"),
    ("Temp", ("temperature",), "°C", 1, None, "tile-temp"),
    ("EtCO2", ("etco2",), "mmHg", 0, None, "tile-etco2"),
    ("PI", ("perfusion_index",), "%", 2, None, "tile-pi"),
)


def make_tiles() -> list[VitalTile]:
    return [VitalTile(label, metrics, unit, decimals=dec, pair=pair, id=tid) for label, metrics, unit, dec, pair, tid in TILES]
