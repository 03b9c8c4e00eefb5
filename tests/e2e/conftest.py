from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Proc


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Processes a test starts; whatever is still running at the end is stopped."""
    started: list[Proc] = []
    yield started
    for p in reversed(started):
        if p.alive():
            p.terminate()


@pytest.fixture
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Short path: Unix socket paths are limited to 107 bytes.
    return tmp_path_factory.mktemp("e2e")
