"""Binding the API's listening sockets before READY=1, with clear errors."""
from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path

from edge_app.errors import EdgeAppError

MAX_UNIX_PATH = 107


def bind_unix(path: Path) -> socket.socket:
    """Listen on a Unix socket readable by the owner and group only; refuse if a live daemon holds it."""
    if len(os.fsencode(path)) > MAX_UNIX_PATH:
        raise EdgeAppError(f"api socket path is too long for a Unix socket ({len(str(path))} > {MAX_UNIX_PATH}): {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeAppError(f"cannot create {path.parent}: {exc.strerror}") from None
    if path.is_symlink() or (path.exists() and not stat.S_ISSOCK(path.stat().st_mode)):
        # Never unlink what is not a socket: a typo here must not delete the database.
        raise EdgeAppError(f"api socket path {path} exists and is not a socket; fix [api] socket in the config")
    if path.exists():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # stale socket from a daemon that died
        else:
            raise EdgeAppError(f"another edge-app daemon is already serving on {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)  # no window in which the socket is world-connectable
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise EdgeAppError(f"cannot listen on {path}: {exc.strerror}") from None
    finally:
        os.umask(old)
    os.chmod(path, 0o660)
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


def bind_tcp(host: str, port: int) -> socket.socket:
    """Listen on a loopback TCP port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = " (is another daemon running?)" if exc.errno == errno.EADDRINUSE else ""
        raise EdgeAppError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    sock.listen(128)
    return sock
