"""The current vital signs of an encounter and its NEWS2, scored once for every reader (API, screen, handover)."""
from __future__ import annotations

import msgspec

from edge_app.clinical.assess import age_years, news2_of
from edge_app.clock import now_ms
from edge_app.model.events import News2Changed
from edge_app.model.news2 import News2
from edge_app.services.hub import Hub
from edge_app.store.access import Store


class VitalsService:
    def __init__(self, store: Store, hub: Hub) -> None:
        self.store = store
        self.hub = hub
        self._last: dict[str, News2] = {}  # what was last published per encounter (inputs aside)

    def news2(self, encounter_id: str) -> News2:
        """NEWS2 from the current value of each parameter (call on a reader thread; NotFoundError if none)."""
        reader = self.store.reader
        enc = reader.encounter(encounter_id)
        return news2_of(reader.latest_values(encounter_id), enc.spo2_scale, age_years(enc.patient, now_ms()))

    def read_news2(self, encounter_id: str, actor: str) -> News2:
        """NEWS2 for a caller, audited (call on a reader thread)."""
        result = self.news2(encounter_id)
        self.store.audit(actor, "news2.read", encounter_id)
        return result

    async def publish_news2(self, encounter_id: str | None = None) -> None:
        """Recompute NEWS2 (of the active encounter by default) and push it on the stream if it changed."""
        def compute() -> tuple[str, News2] | None:
            eid = encounter_id or self.store.reader.active_encounter_id()
            return None if eid is None else (eid, self.news2(eid))

        got = await self.store.read(compute)
        if got is None:
            return
        eid, result = got
        # The inputs' times move with every reading; only a change in the score itself is news.
        key = msgspec.structs.replace(result, inputs={})
        if self._last.get(eid) != key:
            self._last[eid] = key
            self.hub.publish(News2Changed(**msgspec.structs.asdict(result), encounter_id=eid))
