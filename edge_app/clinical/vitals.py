"""The one rule for which value of each vital sign is the patient's current one.

The cab screen's tiles, NEWS2, the handover and the charted record all take their numbers from
current_vitals(), so none can show, score or read aloud a value the others do not (DESIGN.md "One clinical
truth"; docs/vitals.md explains the rule for crews and reviewers). Pure: observations in, VitalSigns out,
``now_ms`` passed in.

The rule, for each metric:
1. Readings a device flags as unreliable (firmware_bridge.flags: sensor off, no contact, low signal IQ, low
   perfusion, questionable pulse, out of track, demonstration data...) are kept and shown in `others`, but
   never taken as the current value. Nor is a device's reading while the device's live status says so.
2. A manual entry outranks device readings for `manual_precedence_ms` (default 5 min) from its stated time:
   the crew measured or corrected it on purpose (a manual SpO2 88 is not replaced by the probe's 97 a
   second later). After that, a fresh reliable device reading takes over; until then both are shown.
3. Among devices, the most preferred fresh one wins: config `priority` (higher first), then the order the
   devices are configured in. The answer names the device.
4. Each value has a freshness window by metric and source kind (DEFAULT_FRESH_*). A value older than its
   window is stale: shown with its age, never scored (RCP NEWS2 2017 scores the current physiology; an
   old value under-calls or over-calls it). With nothing fresh, the newest reliable value is shown, stale.
Ages are from the box's clock: a reading the clock now puts in the future (it stepped back) is age 0.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from firmware_bridge.flags import is_unreliable
from firmware_bridge.metrics import METRICS, Metric

from edge_app.model.observation import Observation, Value
from edge_app.model.vitals import VitalSign, VitalSource, VitalState

MINUTE_MS = 60_000
MANUAL = "manual"
# Continuous monitors send every second or two: two minutes without a reliable reading means the probe
# is off or the link is lost. A cuff (NIBP) measures every 3-15 min when cycling, a thermometer when used:
# 30 min. A crew's own observation describes the patient for an hour (JRCALC expects observations
# repeated through a job; an older one must be measured again).
_INTERMITTENT = {Metric.BP_SYSTOLIC, Metric.BP_DIASTOLIC, Metric.BP_MEAN, Metric.TEMPERATURE, Metric.GLUCOSE}
DEFAULT_FRESH_DEVICE_MS: Mapping[str, int] = {
    str(m): (30 if m in _INTERMITTENT else 2) * MINUTE_MS for m in METRICS}
DEFAULT_FRESH_MANUAL_MS: Mapping[str, int] = {str(m): 60 * MINUTE_MS for m in METRICS}
DEFAULT_MANUAL_PRECEDENCE_MS = 5 * MINUTE_MS


@dataclass(frozen=True, slots=True)
class VitalsRules:
    """The rule's settings (config [clinical] and each device's priority)."""

    manual_precedence_ms: int = DEFAULT_MANUAL_PRECEDENCE_MS
    fresh_device_ms: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_FRESH_DEVICE_MS))
    fresh_manual_ms: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_FRESH_MANUAL_MS))
    device_order: tuple[str, ...] = ()  # most preferred first: priority, then configured order

    def fresh_ms(self, metric: str, source: str) -> int:
        table = self.fresh_manual_ms if source == MANUAL else self.fresh_device_ms
        default = DEFAULT_FRESH_MANUAL_MS if source == MANUAL else DEFAULT_FRESH_DEVICE_MS
        return table.get(metric, default.get(metric, 2 * MINUTE_MS))

    def rank(self, device: str) -> tuple[int, str]:
        """Sort key: configured devices in preference order, then any other (a device since removed) by name."""
        try:
            return (self.device_order.index(device), "")
        except ValueError:
            return (len(self.device_order), device)


def chart_value(metric: str, value: Value) -> Value:
    """A value at the resolution the NEWS2 chart reads it (RCP 2017 Chart 1: whole numbers, temperature to
    0.1 C), half up, as news2.py scores it; other metrics as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    step = Decimal("0.1") if metric == Metric.TEMPERATURE else Decimal(1)
    shown = Decimal(str(value)).quantize(step, rounding=ROUND_HALF_UP)
    return int(shown) if step == 1 else float(shown)


def _newer(a: Observation, b: Observation) -> bool:
    """Whether a is newer than b within one source: a device by sequence (id survives the wall clock
    stepping back), manual entries by their stated time (a back-dated entry is older), then id."""
    if a.source == "device":
        return a.id > b.id
    return (a.received_at, a.id) > (b.received_at, b.id)


@dataclass(slots=True)
class _Source:
    name: str
    newest: Observation | None = None  # newest reading, reliable or not
    reliable: Observation | None = None  # newest reliable reading

    def add(self, o: Observation) -> None:
        if self.newest is None or _newer(o, self.newest):
            self.newest = o
        if o.source != "device" or not is_unreliable(o.flags):
            if self.reliable is None or _newer(o, self.reliable):
                self.reliable = o


def _age_ms(o: Observation, now_ms: int) -> int:
    return max(0, now_ms - o.received_at)


def current_vitals(observations: Iterable[Observation], rules: VitalsRules, now_ms: int,
                   device_status: Mapping[str, Sequence[str]] | None = None) -> dict[str, VitalSign]:
    """The current value of each metric the observations have, by the rule above.

    `observations` may be a whole record or only each source's newest and newest reliable reading per
    metric (the store's vital_candidates): the answer is the same. `device_status` is each device's live
    status flags (a device whose status is unreliable now has no current value, whatever it sent before).
    """
    status = device_status or {}
    by_metric: dict[str, dict[str, _Source]] = {}
    for o in observations:
        name = (o.device or "device") if o.source == "device" else MANUAL
        sources = by_metric.setdefault(o.metric, {})
        sources.setdefault(name, _Source(name)).add(o)
    return {metric: _pick(metric, sources, rules, now_ms, status) for metric, sources in sorted(by_metric.items())}


def _pick(metric: str, sources: Mapping[str, _Source], rules: VitalsRules, now_ms: int,
          status: Mapping[str, Sequence[str]]) -> VitalSign:
    def usable(src: _Source) -> bool:
        """Its newest reading is reliable and its device does not say otherwise now (manual: always)."""
        if src.name == MANUAL:
            return src.reliable is not None
        return src.reliable is not None and src.reliable is src.newest \
            and not is_unreliable(status.get(src.name, ()))

    def age(src: _Source) -> int:
        return _age_ms(src.reliable, now_ms) if src.reliable is not None else now_ms

    def fresh(src: _Source) -> bool:
        return usable(src) and age(src) <= rules.fresh_ms(metric, src.name)

    manual = sources.get(MANUAL)
    devices = sorted((s for n, s in sources.items() if n != MANUAL), key=lambda s: rules.rank(s.name))
    fresh_devices = [d for d in devices if fresh(d)]
    chosen: _Source | None = None
    state: VitalState = "current"
    if manual is not None and fresh(manual) and age(manual) <= rules.manual_precedence_ms:
        chosen, reason = manual, f"manual entry: outranks devices for {rules.manual_precedence_ms // MINUTE_MS} min"
    elif fresh_devices:
        chosen = fresh_devices[0]
        reason = "the preferred fresh device" if len(devices) > 1 else "fresh device reading"
    elif manual is not None and fresh(manual):
        chosen, reason = manual, "manual entry: no fresh reliable device reading"
    else:
        # Nothing fresh: the newest value of a source still sound, shown stale (never scored). A device
        # whose newest reading or live status is unreliable has no value to show: its sensor is off now.
        sound = [s for s in sources.values() if usable(s)]
        if sound:
            chosen = min(sound, key=age)
            state, reason = "stale", "stale: no value within its freshness window"
        else:
            state, reason = "unreliable", "the newest readings are flagged unreliable by their devices"
    others = [_source_view(s, metric, rules, now_ms, status) for s in [*devices, *([manual] if manual else [])]
              if s is not chosen]
    info = METRICS.get(metric)  # type: ignore[call-overload]  # StrEnum keys hash as their strings
    if chosen is None or chosen.reliable is None:
        newest = max((s.newest for s in sources.values() if s.newest), key=lambda o: o.received_at, default=None)
        return VitalSign(metric=metric, value=None, unit=newest.unit if newest else (info.unit if info else ""),
                         time=None, age_s=None, source=None, stale=False, state="unreliable",
                         flags=list(newest.flags) if newest else [], observation_id=None, fresh_for_s=0,
                         reason=reason, disagree=False, others=others)
    o = chosen.reliable
    shown = chart_value(metric, o.value)
    disagree = state == "current" and any(
        not s.stale and s.reliable and chart_value(metric, s.value) != shown for s in others)
    return VitalSign(metric=metric, value=o.value, unit=o.unit, time=o.received_at,
                     age_s=_age_ms(o, now_ms) // 1000, source=chosen.name, stale=state == "stale", state=state,
                     flags=list(o.flags), observation_id=o.id, fresh_for_s=rules.fresh_ms(metric, chosen.name) // 1000,
                     reason=reason, disagree=disagree, others=others)


def _source_view(src: _Source, metric: str, rules: VitalsRules, now_ms: int,
                 status: Mapping[str, Sequence[str]]) -> VitalSource:
    """What a source last said: its newest reading, reliable or not (a sensor gone off shows as such)."""
    o = src.newest
    assert o is not None  # a _Source exists only once it has a reading
    age = _age_ms(o, now_ms)
    reliable = (o.source != "device" or not is_unreliable(o.flags)) and not is_unreliable(status.get(src.name, ()))
    flags = list(dict.fromkeys([*o.flags, *(status.get(src.name, ()) if not reliable else ())]))
    return VitalSource(source=src.name, value=o.value, time=o.received_at, age_s=age // 1000,
                       stale=age > rules.fresh_ms(metric, src.name), reliable=reliable, flags=flags,
                       observation_id=o.id)


def pulse_for_news2(vitals: Mapping[str, VitalSign],
                    manual_precedence_ms: int = DEFAULT_MANUAL_PRECEDENCE_MS) -> VitalSign | None:
    """NEWS2's pulse: the freshest reliable of heart_rate and pulse_rate (RCP NEWS2 2017 scores "pulse"
    from whichever is measured). While both are current: a rate the crew entered within its precedence
    window (they counted it on purpose), else a monitor's heart_rate (the ECG counts every beat, an
    oximeter only perfused ones), else the newer. So a heart rate typed once does not hold the score
    against the oximeter's live pulse for the rest of its hour. Neither current: the newer stale one
    (shown, not scored)."""
    hr, pr = vitals.get(Metric.HEART_RATE), vitals.get(Metric.PULSE_RATE)
    current = [v for v in (hr, pr) if v is not None and v.state == "current"]
    if len(current) == 1:
        return current[0]
    if current:
        typed = [v for v in current if v.source == MANUAL and (v.age_s or 0) * 1000 <= manual_precedence_ms]
        if typed:
            return max(typed, key=lambda v: v.time or 0)
        devices = [v for v in current if v.source != MANUAL]
        if hr in devices:
            return hr
        return max(devices or current, key=lambda v: v.time or 0)
    known = [v for v in (hr, pr) if v is not None and v.value is not None]
    return max(known, key=lambda v: v.time or 0) if known else (hr or pr)
