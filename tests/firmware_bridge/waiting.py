"""Polling helper for async tests: wait for a condition with a deadline and a useful failure."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest


async def wait_for(predicate: Callable[[], object], timeout: float = 3.0, what: str = "condition") -> float:
    """Poll until predicate() is true; return the seconds it took, fail naming `what` on timeout."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)
    return time.monotonic() - start
