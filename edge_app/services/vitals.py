"""An encounter's current vital signs and its NEWS2, computed once by the one rule for every reader: the
API, the cab screen (through the stream), the handover and the charted record."""
from __future__ import annotations

from typing import Literal

import msgspec

from edge_app.clinical.assess import age_years, news2_of
from edge_app.clinical.vitals import (
    DEFAULT_FRESH_DEVICE_MS,
    DEFAULT_FRESH_MANUAL_MS,
    MANUAL,
    VitalsRules,
    current_vitals,
)
from edge_app.clock import now_ms
from edge_app.config import Config
from edge_app.model.events import News2Changed, VitalsChanged
from edge_app.model.news2 import News2
from edge_app.model.vitals import ChartSet, Vitals
from edge_app.services.devices import DeviceBoard
from edge_app.services.hub import Hub
from edge_app.store.access import Store
from edge_app.store.observations import insert_chart_set

ChartReason = Literal["interval", "asked", "handover"]
WRITE_WAIT_S = 10.0


def rules_of(config: Config) -> VitalsRules:
    """The rule's settings from config: [clinical] windows over the defaults, devices by priority then order."""
    c = config.clinical
    order = [d.name for _, d in sorted(enumerate(config.devices), key=lambda p: (-p[1].priority, p[0]))]
    return VitalsRules(manual_precedence_ms=c.manual_precedence_s * 1000,
                       fresh_device_ms={**DEFAULT_FRESH_DEVICE_MS, **{m: s * 1000 for m, s in c.fresh_device_s.items()}},
                       fresh_manual_ms={**DEFAULT_FRESH_MANUAL_MS, **{m: s * 1000 for m, s in c.fresh_manual_s.items()}},
                       device_order=tuple(order))


def _change_key(v: Vitals) -> object:
    """What a screen must hear about: which observation each value is and its standing (ages aside)."""
    return [(m, s.observation_id, s.state, s.disagree, [(o.observation_id, o.stale, o.reliable) for o in s.others])
            for m, s in v.vitals.items()]


class VitalsService:
    def __init__(self, store: Store, hub: Hub, config: Config, devices: DeviceBoard) -> None:
        self.store = store
        self.hub = hub
        self.devices = devices
        self.rules = rules_of(config)
        self.chart_interval_ms = config.clinical.chart_interval_s * 1000
        self._last: dict[str, tuple[object, News2]] = {}  # what was last published per encounter

    def vitals(self, encounter_id: str, now: int | None = None) -> Vitals:
        """The current value of each metric (call on a reader thread; NotFoundError if no such encounter)."""
        reader = self.store.reader
        reader.encounter(encounter_id)
        at = now_ms() if now is None else now
        return Vitals(encounter_id=encounter_id, at=at,
                      vitals=current_vitals(reader.vital_candidates(encounter_id), self.rules, at,
                                            self.devices.status_flags()))

    def assess(self, encounter_id: str) -> tuple[Vitals, News2]:
        """The vitals and the NEWS2 scored from exactly them (call on a reader thread)."""
        reader = self.store.reader
        enc = reader.encounter(encounter_id)
        vitals = self.vitals(encounter_id)
        return vitals, news2_of(vitals.vitals, enc.spo2_scale, age_years(enc.patient, vitals.at),
                                self.rules.manual_precedence_ms)

    def chart(self, encounter_id: str, reason: ChartReason, actor: str, now: int | None = None) -> ChartSet | None:
        """Chart the devices' current values into the record (call on a reader thread; the write is queued
        and waited for). None when no device has a current value to chart (stale and unreliable values
        are not charted: the record must not say a number was current when it was not)."""
        vitals = self.vitals(encounter_id, now)
        ids = [v.observation_id for v in vitals.vitals.values()
               if v.state == "current" and v.source != MANUAL and v.observation_id is not None]
        if not ids:
            return None
        set_id, copies = self.store.writer.submit(insert_chart_set(encounter_id, ids, vitals.at, reason, actor)
                                                  ).result(WRITE_WAIT_S)
        reader = self.store.reader
        return ChartSet(id=set_id, encounter_id=encounter_id, at=vitals.at, reason=reason,
                        observations=[reader.observation(i) for i in copies])

    def chart_due(self, encounter_id: str, now: int) -> bool:
        """Whether the interval since the last chart has passed ([clinical] chart_interval_s; 0: never)."""
        if not self.chart_interval_ms:
            return False
        last = self.store.reader.last_chart_at(encounter_id)
        return last is None or now - last >= self.chart_interval_ms

    async def chart_if_due(self) -> ChartSet | None:
        """The active encounter's devices charted when its interval has passed (the vitals tick calls this)."""
        def run() -> ChartSet | None:
            eid = self.store.reader.active_encounter_id()
            if eid is None or not self.chart_due(eid, now_ms()):
                return None
            return self.chart(eid, "interval", "chart")

        return await self.store.read(run)

    def news2(self, encounter_id: str) -> News2:
        """NEWS2 from the current vitals (call on a reader thread; NotFoundError if none)."""
        return self.assess(encounter_id)[1]

    def read_vitals(self, encounter_id: str, actor: str) -> Vitals:
        result = self.vitals(encounter_id)
        self.store.audit(actor, "vitals.read", encounter_id)
        return result

    def read_news2(self, encounter_id: str, actor: str) -> News2:
        """NEWS2 for a caller, audited (call on a reader thread)."""
        result = self.news2(encounter_id)
        self.store.audit(actor, "news2.read", encounter_id)
        return result

    async def publish_news2(self, encounter_id: str | None = None) -> None:
        """Recompute (the active encounter by default) and push what changed on the stream: the vitals
        with the NEWS2 scored from them (the cab screen draws both from this one event), and the NEWS2
        alone when the score itself changed."""
        def compute() -> tuple[str, Vitals, News2] | None:
            eid = encounter_id or self.store.reader.active_encounter_id()
            return None if eid is None else (eid, *self.assess(eid))

        got = await self.store.read(compute)
        if got is None:
            return
        eid, vitals, result = got
        key = _change_key(vitals)
        # The inputs' ages move with every second; only a change in the score itself is NEWS2 news.
        score = msgspec.structs.replace(result, inputs={}, oldest_input_time=None)
        last = self._last.get(eid)
        if last is not None and last[0] == key and last[1] == score:
            return
        if last is None and not vitals.vitals:
            self._last[eid] = (key, score)  # a new encounter with nothing recorded: no news yet
            return
        self._last[eid] = (key, score)
        self.hub.publish(VitalsChanged(encounter_id=eid, at=vitals.at, vitals=vitals.vitals, news2=result))
        if last is None or last[1] != score:
            self.hub.publish(News2Changed(**msgspec.structs.asdict(result), encounter_id=eid))
