"""`edge-app audit verify`: walk the hash chain of the audit log (read-only, safe while the daemon runs)."""
from __future__ import annotations

from edge_app.config import Config
from edge_app.errors import EdgeAppError
from edge_app.store.connection import open_db
from edge_app.store.audit import verify_audit_chain


def audit_verify(cfg: Config) -> int:
    """Exit 0 when every row is as written, 1 naming the first row changed, removed or reordered."""
    if not cfg.db_path.exists():
        raise EdgeAppError(f"{cfg.db_path}: no database here")
    db = open_db(cfg.db_path, readonly=True)
    try:
        rows, broken = verify_audit_chain(db)
    finally:
        db.close()
    if broken is None:
        print(f"audit log: {rows} rows, chain intact")
        return 0
    print(f"audit log: BROKEN at row {broken} ({rows} rows checked): a row was changed, removed or reordered; "
          "keep this database for investigation and restore the latest backup")
    return 1
