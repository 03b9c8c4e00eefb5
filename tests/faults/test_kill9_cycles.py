"""Fault injection: kill -9 the daemon at random moments during ingest from several monitors.

Every reading the API returned before a kill is there afterwards, unchanged; integrity_check is ok.
EDGE_FAULT_CYCLES sets the count (CI: 20; the long mode in benchmarks/README.md: 200).
"""
from __future__ import annotations

import os
import random
import socket
import sqlite3
import time
from pathlib import Path

from tests.e2e.harness import Daemon, Proc, Simulator

CYCLES = int(os.environ.get("EDGE_FAULT_CYCLES", "20"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_kill_9_at_random_moments_loses_nothing_acknowledged(root: Path, procs: list[Proc]) -> None:
    rng = random.Random(20261123)
    hl7_port = free_port()
    procs.append(Simulator("masimo-ascii", root / "tty-masimo", root / "sim1.log", rate=50))
    procs.append(Simulator("nonin-df7", root / "tty-nonin", root / "sim2.log", rate=5))
    cfg = root / "config.toml"
    cfg.write_text(f'[storage]\npath = "{root / "edge.db"}"\n[api]\nsocket = "{root / "api.sock"}"\n'
                   f'[[devices]]\nname = "masimo"\nprotocol = "masimo-ascii"\nport = "{root / "tty-masimo"}"\n'
                   f'[[devices]]\nname = "nonin"\nprotocol = "nonin-df7"\nport = "{root / "tty-nonin"}"\n'
                   f'[[devices]]\nname = "hl7"\nprotocol = "hl7-oru"\nlisten = "127.0.0.1:{hl7_port}"\n')
    hl7 = Proc(["simulate", "hl7-oru", "--connect", f"127.0.0.1:{hl7_port}", "--rate", "20"], root / "sim3.log")
    procs.append(hl7)
    acknowledged: dict[int, tuple] = {}
    for _cycle in range(CYCLES):
        d = Daemon(cfg, root)
        procs.append(d)
        d.wait_ready()
        after = max(acknowledged, default=0)
        deadline = time.monotonic() + rng.uniform(0.2, 1.5)
        while time.monotonic() < deadline:
            for o in d.get("/api/v1/observations", after=after, limit=5000):
                acknowledged[o["id"]] = (o["device"], o["metric"], o["value"], o["received_at"])
                after = o["id"]
        d.kill9()
        procs.remove(d)
    assert {a[0] for a in acknowledged.values()} == {"masimo", "nonin", "hl7"}, "all three monitors ingested"
    con = sqlite3.connect(root / "edge.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = {r[0]: tuple(r[1:]) for r in con.execute(
            "SELECT id, device, metric, value, received_at FROM observations")}
    finally:
        con.close()
    missing = [i for i in acknowledged if i not in rows]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged readings lost"
    changed = [i for i in acknowledged if rows[i] != acknowledged[i]]
    assert not changed
    print(f"\n{CYCLES} kill -9 cycles, {len(acknowledged)} acknowledged readings, {len(rows)} stored, none lost")
