"""A big-number vital-sign tile: value, unit, source device and age, stale and no-data said in words,
and a 15-minute trend line."""
from __future__ import annotations

import time
from collections import deque
from typing import Any

import msgspec
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Digits, Sparkline, Static

STALE_S = 10
NO_DATA_S = 60
# A cuff (or a hand-entered RR/temperature) is read every few minutes on purpose: minutes old is normal.
SPOT_STALE_S = 15 * 60
SPOT_NO_DATA_S = 60 * 60
TREND_S = 15 * 60
TREND_BUCKETS = 30
# A trend point further than this in the future is from before the wall clock was stepped back: dropped
# (so it does not come back into the trend, among other readings, once the clock has caught up). More
# than the 5 minutes ahead the API allows a manual entry's time (a tablet's clock a little ahead).
FUTURE_SLACK_S = 10 * 60


class Shown(msgspec.Struct, frozen=True):
    """What a tile shows: a value, when it was taken (epoch ms), from which device (None: entered by hand),
    its flags, and the rank of its metric among the tile's (0: the first, e.g. heart_rate before pulse_rate)."""

    value: Any
    time: int
    device: str | None
    flags: list[str]
    rank: int = 0


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
    """One metric. `reading` is the value on show."""

    reading: reactive[Shown | None] = reactive(None, always_update=True)
    now: reactive[float] = reactive(0.0)

    def __init__(self, label: str, metrics: tuple[str, ...], unit: str, *, decimals: int = 0, id: str,
                 stale_s: float = STALE_S, no_data_s: float = NO_DATA_S, pair: str | None = None) -> None:
        super().__init__(id=id, classes="tile")
        self.label = label
        self.metrics = metrics  # first one present wins (e.g. heart_rate, else pulse_rate)
        self.unit = unit
        self.decimals = decimals
        self.stale_s = stale_s
        self.no_data_s = no_data_s
        self.pair = pair  # a second metric shown after a slash (BP diastolic)
        self.pair_value: Any = None
        self.points: deque[tuple[float, float]] = deque(maxlen=20_000)
        self._arrived: tuple[float, float] = (0.0, 0.0)  # (time.monotonic(), age in s) when `reading` was set

    def compose(self) -> ComposeResult:
        yield Digits("--", classes="tile-digits")
        yield Static("no data", classes="tile-caption")
        yield Sparkline([], classes="tile-trend")

    def add_point(self, time_ms: int, value: Any) -> None:
        """Remember a value for the trend line (numbers only)."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.points.append((time_ms / 1000, float(value)))

    def set_pair(self, value: Any) -> None:
        self.pair_value = value
        self._refresh()

    def _shown(self, r: Shown) -> str:
        shown = format_value(r.value, self.decimals)
        if self.pair is not None:
            shown += "/" + ("--" if self.pair_value is None else format_value(self.pair_value, self.decimals))
        return shown

    def age(self) -> float:
        """Seconds since the shown reading was taken, by the wall clock, but never less than the time it
        has been on screen by the monotonic clock: a wall clock stepped back (NTP, GPS) must not make an
        old value look live (by the wall clock alone it would, until the clock caught up)."""
        r = self.reading
        if r is None:
            return float("inf")
        at, age_then = self._arrived
        return max(0.0, (self.now or time.time()) - r.time / 1000, age_then + time.monotonic() - at)

    def _state(self) -> tuple[str, str, str]:
        r = self.reading
        if r is None:
            return "--", f"{self.label}: no data", "nodata"
        age = self.age()
        shown = self._shown(r)
        src = r.device or "manual"
        flags = f" [{', '.join(r.flags)}]" if r.flags else ""
        if self.stale_s != STALE_S:
            src += f" · stale after {age_words(self.stale_s)}"
        if age >= self.no_data_s:
            return "--", f"{self.label}: no data (last {shown} {self.unit}, {age_words(age)} ago)", "nodata"
        if age >= self.stale_s:
            return shown, f"{self.label} {shown} {self.unit} STALE {age_words(age)}\n{src}{flags}", "stale"
        return shown, f"{self.label} {shown} {self.unit} · {age_words(age)}\n{src}{flags}", "live"

    def _refresh(self) -> None:
        if not self.children:  # reactive fired before compose
            return
        digits, caption, state = self._state()
        self.query_one(Digits).update(digits)
        self.query_one(".tile-caption", Static).update(caption)
        for s in ("live", "stale", "nodata"):
            self.set_class(s == state, s)

    def watch_reading(self, reading: Shown | None) -> None:
        if reading is not None:
            self._arrived = (time.monotonic(), max(0.0, time.time() - reading.time / 1000))
            self.add_point(reading.time, reading.value)
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


# (label, metrics, unit, decimals, stale_s, no_data_s, pair, id) for the cab screen, most urgent first.
TILES: tuple[tuple[str, tuple[str, ...], str, int, float, float, str | None, str], ...] = (
    ("SpO2", ("spo2",), "%", 0, STALE_S, NO_DATA_S, None, "tile-spo2"),
    ("Pulse", ("heart_rate", "pulse_rate"), "/min", 0, STALE_S, NO_DATA_S, None, "tile-pulse"),
    ("BP", ("bp_systolic",), "mmHg", 0, SPOT_STALE_S, SPOT_NO_DATA_S, "bp_diastolic", "tile-bp"),
    ("RR", ("resp_rate",), "/min", 0, SPOT_STALE_S, SPOT_NO_DATA_S, None, "tile-rr"),
    ("Temp", ("temperature",), "°C", 1, SPOT_STALE_S, SPOT_NO_DATA_S, None, "tile-temp"),
    ("EtCO2", ("etco2",), "mmHg", 0, STALE_S, NO_DATA_S, None, "tile-etco2"),
    ("PI", ("perfusion_index",), "%", 2, STALE_S, NO_DATA_S, None, "tile-pi"),
)


def make_tiles() -> list[VitalTile]:
    return [VitalTile(label, metrics, unit, decimals=dec, stale_s=stale, no_data_s=nodata, pair=pair, id=tid)
            for label, metrics, unit, dec, stale, nodata, pair, tid in TILES]
