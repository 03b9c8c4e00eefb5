"""Retry timing: exponential, capped, and jittered so a fleet coming back online does not retry in step."""
from __future__ import annotations

import random

from edge_app.uplink.run import BACKOFF_BASE_S, BACKOFF_CAP_S, backoff_s


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(1)
    for attempt in range(1, 15):
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
        values = [backoff_s(attempt, rng) for _ in range(200)]
        assert all(ceiling / 2 <= v <= ceiling for v in values)
        assert max(values) - min(values) > ceiling / 4, "spread out, not in step"
    assert backoff_s(50, rng) <= BACKOFF_CAP_S
