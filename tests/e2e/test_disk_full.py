"""A full data partition: the daemon keeps serving, says what is wrong, holds the readings, and stores
every one of them once space returns."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Daemon, Proc, Simulator, tmpfs, wait_for


@pytest.fixture
def small_fs(root: Path) -> Iterator[Path]:
    """An 8 MB data partition."""
    with tmpfs(root / "data", "8m") as mnt:
        yield mnt


def fill(path: Path) -> None:
    """Fill the filesystem to the last byte."""
    with open(path, "wb", buffering=0) as f:
        for size in (65536, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass


def test_full_disk_holds_readings_and_stores_them_all_when_space_returns(root: Path, small_fs: Path,
                                                                          procs: list[Proc]) -> None:
    link = root / "tty0"
    sim = Simulator("masimo-ascii", link, root / "sim.log", rate=20)
    procs.append(sim)
    cfg = root / "config.toml"
    cfg.write_text(f'[storage]\npath = "{small_fs / "edge.db"}"\n[api]\nsocket = "{root / "api.sock"}"\n'
                   f'[[devices]]\nname = "ox"\nprotocol = "masimo-ascii"\nport = "{link}"\n')
    d = Daemon(cfg, root)
    procs.append(d)
    d.wait_ready()

    def counters() -> dict:
        return d.get("/api/v1/devices")[0]["counters"]

    wait_for(lambda: counters()["committed"] > 20, 10, "first readings stored")
    filler = small_fs / "filler"
    fill(filler)
    wait_for(lambda: counters()["store_failures"] > 0, 15, "the store to fail on a full disk")
    status = d.get("/api/v1/status")
    assert status["summary"].startswith("STORE FAILING"), status["summary"]
    assert status["store"]["last_error"]
    held = wait_for(lambda: counters()["unstored"] > 0 and counters()["unstored"], 10, "readings held")
    assert d.get("/api/v1/observations", limit=5)  # still serves what it has
    time.sleep(1)
    filler.unlink()
    wait_for(lambda: counters()["unstored"] == 0 and not d.get("/api/v1/status")["store"]["last_error"], 20,
             "the held readings to be stored once space returns")
    assert d.get("/api/v1/status")["summary"].startswith("ready:")
    sim.terminate()
    # nothing received was lost: every reading the daemon decoded is in the store, exactly once
    wait_for(lambda: counters()["committed"] == counters()["received"], 10, "committed == received")
    c = counters()
    assert c["dropped"] == 0 and held > 0
    stored = d.get("/api/v1/observations", limit=10000, device="ox")
    assert len(stored) == c["received"]
