"""`edge-app db check|backup|restore`: the database as a technician handles it, never through the daemon."""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from edge_app.config import Config
from edge_app.errors import EdgeAppError
from edge_app.store.connection import open_db
from edge_app.store.migrations import MIGRATIONS, current_version
from edge_app.store.audit import verify_audit_chain
from edge_app.store.queries import integrity_check

BACKUP_NAME = re.compile(r"^edge-\d{8}T\d{6}Z(-\d+)?\.db$")
_REQUIRED_TABLES = ("encounters", "observations", "audit_log")


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


def db_backup(cfg: Config, dest: str, *, keep: int | None = None) -> int:
    """Copy the live database to DEST (a file, or a directory for a timestamped file); verify; prune."""
    src = cfg.db_path
    if not src.exists():
        raise EdgeAppError(f"{src}: no database here (has the daemon ever run with this config?)")
    if keep is not None and keep < 1:
        raise EdgeAppError(f"--keep {keep}: keep at least 1 backup")
    dest_path = Path(dest)
    is_dir = dest_path.is_dir() or dest.endswith("/")
    if keep is not None and not is_dir:
        raise EdgeAppError(f"--keep needs DEST to be a directory, and {dest} is not one "
                           "(end it with / to create it)")
    if is_dir:
        try:
            dest_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgeAppError(f"{dest_path}: cannot create the backup directory: {exc.strerror}") from None
        target = _timestamped(dest_path)
    else:
        target = dest_path
        if not target.parent.is_dir():
            raise EdgeAppError(f"{target.parent}: no such directory")
    if target.resolve() == src.resolve():
        raise EdgeAppError(f"{target} is the live database; back up to another file")
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        counts = _copy_verified(src, tmp)
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + "-journal").unlink(missing_ok=True)
    pruned = _prune(target.parent, keep) if is_dir and keep is not None else []
    removed = f"; removed {len(pruned)} older backups" if pruned else ""
    print(f"{target}: integrity ok; {counts['encounters']} encounters, {counts['observations']} "
          f"observations, {target.stat().st_size / 1e6:.1f} MB{removed}")
    return 0


def db_restore(cfg: Config, src_arg: str) -> int:
    """Put a backup in place of the database (daemon stopped); the current one is kept aside."""
    src, db_path = Path(src_arg), cfg.db_path
    if not src.is_file():
        raise EdgeAppError(f"{src}: no such backup file")
    stop_first = "stop it first: systemctl stop edge-app"
    if _daemon_answers(cfg.socket_path):
        raise EdgeAppError(f"the daemon is running (it answers on {cfg.socket_path}); {stop_first}")
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeAppError(f"{db_path.parent}: cannot create the data directory: {exc.strerror}") from None
    _check_restorable(src)
    with _writer_lock(db_path) as free:
        if not free:
            raise EdgeAppError(f"a daemon is using {db_path} (its writer lock is held); {stop_first}")
        return _restore(src, db_path)


def _restore(src: Path, db_path: Path) -> int:
    """Copy src next to the database, verify it, move the database aside, rename the copy in."""
    tmp = db_path.with_name(f".{db_path.name}.restore-{os.getpid()}")
    try:
        counts = _copy_verified(src, tmp)
        if os.geteuid() == 0:
            # Restored as root: hand the file to whoever owns the data directory (the daemon's user),
            # or the daemon could not write it and would stop at start.
            st = db_path.parent.stat()
            os.chown(tmp, st.st_uid, st.st_gid)
        aside = _move_aside(db_path)
        os.replace(tmp, db_path)
        fsync_dir(db_path.parent)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + "-journal").unlink(missing_ok=True)
    print(f"restored {src} to {db_path}: {counts['encounters']} encounters, "
          f"{counts['observations']} observations")
    if aside:
        print(f"  the previous database is kept at {aside}")
    print("  start the daemon: systemctl start edge-app")
    return 0


def _copy_verified(src: Path, dst: Path) -> dict[str, int]:
    """SQLite online backup of src into dst (0600, one file, fsynced); integrity-checked; its counts."""
    source = open_db(src, readonly=True)
    try:
        # Created here, 0600 and exclusive: patient data gets the mode the daemon's UMask=0077 gives the DB.
        os.close(os.open(dst, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        target = sqlite3.connect(str(dst), isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        source.close()
        reason = getattr(exc, "strerror", None) or exc
        raise EdgeAppError(f"{dst.parent}: cannot write the copy: {reason}") from None
    try:
        # pages=-1 copies everything in one step, i.e. inside one read transaction: under WAL that is a
        # consistent snapshot while the daemon keeps committing (a stepwise backup would restart on
        # every commit from another connection and might never finish).
        source.conn.backup(target, pages=-1)
        # One self-contained file (no -wal/-shm), so it can be copied to a stick and opened read-only.
        target.execute("PRAGMA journal_mode=DELETE")
        problems = [r[0] for r in target.execute("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise EdgeAppError(f"the copy of {src} fails integrity_check ({problems[0]}); "
                               "run `edge-app db check` on the source")
        tables = {r[0] for r in target.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables.issuperset(_REQUIRED_TABLES):
            raise EdgeAppError(f"{src}: not an edge-app database (tables missing)")
        counts = {t: target.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("encounters", "observations")}
    except sqlite3.Error as exc:
        raise EdgeAppError(f"copying {src} to {dst.parent} failed: {exc}") from None
    finally:
        target.close()
        source.close()
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return counts


def _check_restorable(src: Path) -> None:
    """src is a sound edge-app database this build can run; EdgeAppError saying why not."""
    try:
        db = open_db(src, readonly=True)
    except EdgeAppError as exc:
        raise EdgeAppError(f"{src}: cannot open as a database: {exc}") from None
    try:
        tables = set(db.table_names())
        missing = [t for t in _REQUIRED_TABLES if t not in tables]
        if missing:
            raise EdgeAppError(f"{src}: not an edge-app database (no {missing[0]} table)")
        problems = integrity_check(db)
        if problems != ["ok"]:
            raise EdgeAppError(f"{src}: fails integrity_check ({problems[0]}); pick an older backup")
        known = {name for name, _ in MIGRATIONS}
        newer = [m for m in current_version(db) if m not in known]
        if newer:
            raise EdgeAppError(f"{src}: made by a newer edge-app (migration {newer[0]}); "
                               "update this box first")
    except sqlite3.DatabaseError as exc:
        raise EdgeAppError(f"{src}: not a readable SQLite database: {exc}") from None
    finally:
        db.close()


def _move_aside(db_path: Path) -> Path | None:
    """Rename the database (and a non-empty -wal: committed pages) to *.before-restore-<time>."""
    wal, shm = (db_path.with_name(db_path.name + s) for s in ("-wal", "-shm"))
    if not db_path.exists() and not wal.exists():
        shm.unlink(missing_ok=True)
        return None
    base = f"{db_path.name}.before-restore-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    aside, n = db_path.with_name(base), 1
    while aside.exists():
        n += 1
        aside = db_path.with_name(f"{base}-{n}")
    if db_path.exists():
        os.replace(db_path, aside)
    if wal.exists() and wal.stat().st_size > 0:
        # Moved even without its database (a restore cut short): a WAL left here would be replayed
        # into the restored file.
        os.replace(wal, aside.with_name(aside.name + "-wal"))
    # The -shm is only an index of the WAL, rebuilt on open; left here it would describe the wrong file.
    for stale in (wal, shm):
        stale.unlink(missing_ok=True)
    return aside


@contextlib.contextmanager
def _writer_lock(db_path: Path) -> Iterator[bool]:
    """Hold the daemon's writer lock (edge.db.lock) if it exists: False if a daemon holds it.

    Held for the whole restore so that a daemon started meanwhile stops at its lock instead of
    opening a half-replaced database. Not created here: as root it would be a file the daemon cannot open.
    """
    lock_path = db_path.with_name(db_path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _daemon_answers(socket_path: Path) -> bool:
    """True when a daemon answers on the API socket (a stale socket file does not count)."""
    if not socket_path.exists():
        return False
    # lazy: httpx only to ask whether a daemon runs (db commands are offline tools)
    import httpx

    from edge_app.client import sync_client

    try:
        with sync_client(socket_path, timeout=2.0) as c:
            c.get("/healthz")
        return True
    except (httpx.TransportError, OSError):
        return False


def _timestamped(directory: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target, n = directory / f"edge-{stamp}.db", 1
    while target.exists():
        n += 1
        target = directory / f"edge-{stamp}-{n}.db"
    return target


def _prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups this command named (other files are left alone)."""
    # Names sort by time (UTC stamp, then -2, -3 within one second).
    def order(p: Path) -> tuple[str, int]:
        m = BACKUP_NAME.match(p.name)
        return (p.name[5:21], int(m.group(1)[1:]) if m and m.group(1) else 1)

    backups = sorted((p for p in directory.iterdir() if BACKUP_NAME.match(p.name)), key=order)
    doomed = backups[:-keep]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


def fsync_dir(directory: Path) -> None:
    # The rename is only durable once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
