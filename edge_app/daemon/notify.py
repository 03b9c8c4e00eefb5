"""sd_notify(3) without libsystemd: READY, WATCHDOG, STATUS, STOPPING over $NOTIFY_SOCKET."""
from __future__ import annotations

import logging
import os
import socket

_LOGGER = logging.getLogger(__name__)


def sd_notify(*lines: str) -> bool:
    """Send state lines to systemd; False (and nothing else) when not run by systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]  # abstract namespace socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall("\n".join(lines).encode())
    except OSError as exc:
        _LOGGER.warning("sd_notify to %s failed: %s", addr, exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None when no watchdog is asked for."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not (usec.isascii() and usec.isdigit()) or int(usec) == 0:
        return None
    if pid and (pid.isascii() and pid.isdigit()) and int(pid) != os.getpid():
        return None
    return int(usec) / 1e6 / 2
