"""Which observation of a metric is its current value, and the order a metric's observations happened in.

Pure: typed Observation rows in, one of them (or the same rows reordered) out. The one rule, in newest(),
is what the store's latest values, the NEWS2 trend and the handover texts all rank by, so the number on
the screen, the score and the words read aloud at handover cannot disagree about which reading is current.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterable

from edge_app.model.observation import Observation


def newest(device: Observation | None, manual: Observation | None) -> Observation | None:
    """Which of a metric's newest device reading and newest manual entry is its latest value.

    Pass the device reading with the highest id (sequence) and the manual entry with the latest
    received_at, its stated observation time (highest id on a tie); either may be None.

    Device readings rank by sequence, never by received_at: received_at is the box's wall clock when the
    reading arrived, and that clock can step back (NTP or GPS correcting it) while readings keep coming,
    so the newest reading can carry an earlier time than the one before it. Manual entries rank by their
    stated time: a crew member back-dating an entry ("RR 16 at 10:50") must not override a newer one.

    Between the two kinds:
    - a device reading stored after the manual entry (higher id) wins: it arrived after the entry was
      made, and an entry's stated time is never after it was made (beyond the few minutes the API allows
      for a tablet's clock), so the reading is the newer whatever the clocks say;
    - otherwise the reading came first, and the entry wins if its stated time is at or after the
      reading's received_at, i.e. unless it was back-dated to before the reading.
    The second comparison is the only place a clock step still counts: a device that stopped sending
    before the wall clock stepped back, then an entry made after the step, not back-dated, is ranked
    behind that reading until the clock passes it again (at most the size of the step). A monitor still
    sending is unaffected (its next reading wins by sequence), and a manual entry has no other time to
    go by: we store when it was observed, not when it was entered.
    """
    if device is None or manual is None:
        return device or manual
    if device.id > manual.id:
        return device
    return manual if manual.received_at >= device.received_at else device


def later(a: Observation, b: Observation) -> Observation:
    """The newer of two observations of one metric, ranked as newest() ranks them."""
    if a.source == "device" and b.source == "device":
        return a if a.id > b.id else b
    if a.source != "device" and b.source != "device":
        return a if (a.received_at, a.id) > (b.received_at, b.id) else b
    device, manual = (a, b) if a.source == "device" else (b, a)
    # newest() returns None only when both are None; here both are set.
    return newest(device, manual) or a


def in_order(rows: Iterable[Observation]) -> list[Observation]:
    """Rows as they happened: device readings by id, manual entries by stated time, the two merged by time.

    Not by received_at alone: the box's wall clock can step back while a monitor sends, and then a later
    reading carries an earlier time. assess.news2_trend replays a record in this order."""
    rows = list(rows)
    devices = sorted((r for r in rows if r.source == "device"), key=lambda r: r.id)
    manual = sorted((r for r in rows if r.source != "device"), key=lambda r: (r.received_at, r.id))
    return list(heapq.merge(devices, manual, key=lambda r: r.received_at))
