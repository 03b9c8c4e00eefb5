"""`edge-app db check`: integrity, audit chain and counts, read-only (safe while the daemon runs)."""
from __future__ import annotations

from edge_app.config import Config
from edge_app.errors import EdgeAppError
from edge_app.store.connection import open_db
from edge_app.store.migrations import MIGRATIONS, current_version
from edge_app.store.queries import integrity_check, verify_audit_chain


def db_check(cfg: Config) -> int:
    """Exit 0 when sound, 1 when something is wrong (and what), 2 when the DB cannot be opened."""
    path = cfg.db_path
    if not path.exists():
        raise EdgeAppError(f"{path}: no database here (has the daemon ever run with this config?)")
    db = open_db(path, readonly=True)
    try:
        problems = []
        integrity = integrity_check(db)
        if integrity != ["ok"]:
            problems.append(f"integrity_check found {len(integrity)} problems, first: {integrity[0]}")
        applied = current_version(db)
        pending = [n for n, _ in MIGRATIONS if n not in applied]
        audited, broken = verify_audit_chain(db)
        if broken is not None:
            problems.append(f"audit log chain broken at row {broken}: a row was altered or removed")
        obs = db.execute("SELECT count(*), sum(encounter_id IS NULL) FROM observations").fetchone()
        enc = db.execute("SELECT count(*) FROM encounters").fetchone()[0]
        size = path.stat().st_size + (path.with_name(path.name + "-wal").stat().st_size
                                      if path.with_name(path.name + "-wal").exists() else 0)
    finally:
        db.close()
    print(f"{path}: {'ok' if not problems else 'PROBLEMS FOUND'}")
    print(f"  integrity_check: {'ok' if integrity == ['ok'] else 'FAILED'}")
    print(f"  schema: {len(applied)} migrations applied" + (f", {len(pending)} pending (the daemon applies them)"
                                                              if pending else ""))
    print(f"  audit log: {audited} rows, chain {'intact' if broken is None else 'BROKEN'}")
    print(f"  {enc} encounters, {obs[0]} observations ({obs[1] or 0} unassigned), {size / 1e6:.1f} MB")
    for p in problems:
        print(f"  problem: {p}")
    if problems:
        print("  fix: stop the daemon, copy the database aside, restore the latest backup; keep the copy for analysis")
    return 1 if problems else 0
