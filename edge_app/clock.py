"""The wall clock, in the unit the store keeps (UTC epoch milliseconds)."""
from __future__ import annotations

import time


def now_ms() -> int:
    """Now, epoch ms (UTC); the box's clock, which can step: order is kept by sequence, not by this."""
    return time.time_ns() // 1_000_000
