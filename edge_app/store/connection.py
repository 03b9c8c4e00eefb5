"""Opening SQLite the one way the appliance does: WAL, synchronous=FULL, foreign keys, busy timeout."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from edge_app.errors import StoreError

BUSY_TIMEOUT_MS = 5000


def open_db(path: Path, *, readonly: bool = False) -> sqlite_utils.Database:
    """A connection with the durability settings; readonly opens never create or write the file."""
    try:
        if readonly:
            if not path.exists():
                raise StoreError(f"{path}: database does not exist")
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not readonly:
            # WAL: readers never block the writer. FULL: a commit is on the platter before it returns,
            # so whatever the API has shown survives power loss, not just a process crash.
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{path}: cannot switch to WAL journal (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open database: {exc}") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot create data directory: {exc.strerror or exc}") from None
    return sqlite_utils.Database(conn, execute_plugins=False)
