"""A real daemon with a simulated oximeter for the cab UI's Pilot tests (started once per module)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import Daemon, Simulator, write_config


@dataclass
class LiveDaemon:
    daemon: Daemon
    root: Path

    @property
    def socket(self) -> Path:
        return self.daemon.socket


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDaemon]:
    root = tmp_path_factory.mktemp("tui")  # short: Unix socket paths are limited to 107 bytes
    sim = Simulator("masimo-ascii", root / "tty-ox", root / "sim.log", rate=5.0)
    daemon = Daemon(write_config(root, [("oximeter", "masimo-ascii", root / "tty-ox")]), root)
    try:
        daemon.wait_ready()
        yield LiveDaemon(daemon, root)
    finally:
        daemon.terminate()
        sim.terminate()
