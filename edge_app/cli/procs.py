"""Child processes that never outlive their parent (demo, tests): PDEATHSIG plus a polite stop."""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    # Linux: the kernel sends SIGTERM to the child when the parent dies, even by SIGKILL.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn_edge_app(args: Sequence[str], *, log: IO[Any] | int | None = None,
                   env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`edge-app ARGS` in its own session (terminal ^C goes to the UI, not to it), tied to our life."""
    return subprocess.Popen([sys.executable, "-m", "edge_app", *args], stdin=subprocess.DEVNULL,
                            stdout=log if log is not None else subprocess.DEVNULL,
                            stderr=log if log is not None else subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=die_with_parent, env=env)


def stop(proc: subprocess.Popen[bytes], timeout: float = 3.0) -> int | None:
    """SIGTERM, wait, then SIGKILL; the exit code (None if it had to be killed)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
