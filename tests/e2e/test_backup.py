"""`edge-app db backup` and `db restore` against a real daemon ingesting from a simulated monitor."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.e2e.harness import ROOT, Daemon, Proc, Simulator, wait_for, write_config


def edge_app(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "edge_app", *args]
    return subprocess.run(cmd, cwd=ROOT, check=False, capture_output=True, text=True, timeout=60)


def stored(d: Daemon) -> int:
    return int(d.get("/api/v1/status")["counts"]["observations"])


def rows_in(db: Path) -> tuple[int, int]:
    """(count, max id) of observations, read-only."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return c.execute("SELECT count(*), coalesce(max(id), 0) FROM observations").fetchone()


def ingesting(root: Path, procs: list[Proc]) -> tuple[Daemon, Path]:
    link = root / "ttyOXI"
    procs.append(Simulator("masimo-ascii", link, root / "sim.log", rate=50))
    config = write_config(root, [("oximeter", "masimo-ascii", link)])
    d = Daemon(config, root)
    procs.append(d)
    d.wait_ready()
    wait_for(lambda: stored(d) >= 60, 15, "readings stored")
    return d, config


def test_backup_while_ingesting_is_consistent_and_pruned(root: Path, procs: list[Proc]) -> None:
    d, config = ingesting(root, procs)
    backups = root / "backups"
    before = stored(d)
    outputs = []
    for _ in range(3):
        r = edge_app("db", "backup", f"{backups}/", "--keep", "2", "--config", str(config))
        assert r.returncode == 0, r.stderr
        outputs.append(r.stdout)
    assert stored(d) > before, "the daemon kept ingesting during the backups"
    made = [Path(out.split(": ")[0]) for out in outputs]
    # pruned to the newest 2 (even within one second: -2, -3 sort after), no temp files or -wal left
    assert sorted(backups.iterdir()) == sorted(made[1:]), (list(backups.iterdir()), made)
    assert "removed 1 older backups" in outputs[-1]
    newest = made[-1]
    with sqlite3.connect(f"file:{newest}?mode=ro", uri=True) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    count, _ = rows_in(newest)
    assert count >= before
    assert f"{count} observations" in outputs[-1]
    assert newest.stat().st_mode & 0o077 == 0, "patient data is not group/world readable"
    # a file name as DEST works too; --keep with it is refused with one line
    r = edge_app("db", "backup", str(root / "copy.db"), "--config", str(config))
    assert r.returncode == 0 and rows_in(root / "copy.db")[0] >= count, r.stderr
    r = edge_app("db", "backup", str(root / "other.db"), "--keep", "2", "--config", str(config))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "directory" in r.stderr


def test_restore_refuses_while_running_then_restores_the_backup(root: Path, procs: list[Proc]) -> None:
    d, config = ingesting(root, procs)
    backup = root / "before.db"
    assert edge_app("db", "backup", str(backup), "--config", str(config)).returncode == 0
    count, max_id = rows_in(backup)
    wait_for(lambda: stored(d) > count + 20, 10, "readings after the backup")

    r = edge_app("db", "restore", str(backup), "--config", str(config))
    assert r.returncode == 2, r.stdout
    assert "daemon is running" in r.stderr and "systemctl stop edge-app" in r.stderr
    assert r.stderr.count("\n") == 1

    for p in reversed(procs):
        p.terminate()
    assert d.p.returncode == 0, d.output()
    r = edge_app("db", "restore", str(backup), "--config", str(config))
    assert r.returncode == 0, r.stderr
    assert f"{count} observations" in r.stdout
    aside = [p for p in root.iterdir()
             if p.name.startswith("edge.db.before-restore-") and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and rows_in(aside[0])[0] > count, "the newer database is kept, not lost"

    d2 = Daemon(config, root)
    procs.append(d2)
    d2.wait_ready()
    assert stored(d2) == count
    last = d2.get("/api/v1/observations", after=max_id - 1, limit=10)
    assert [o["id"] for o in last] == [max_id]


def test_restore_rejects_what_is_not_a_sound_backup(root: Path) -> None:
    config = write_config(root)
    junk = root / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    r = edge_app("db", "restore", str(junk), "--config", str(config))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert str(junk) in r.stderr
    other = root / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    r = edge_app("db", "restore", str(other), "--config", str(config))
    assert r.returncode == 2 and "not an edge-app database" in r.stderr, r.stderr
    assert not (root / "edge.db").exists(), "nothing was put in place"
