"""Real processes for end-to-end tests: the daemon and simulators, started as `python -m edge_app`."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll until predicate() is truthy; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the thing is not up yet
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last_exc!r})"
                                                                           if last_exc else ""))


def write_config(root: Path, devices: list[tuple[str, str, Path]] = (), extra: str = "") -> Path:  # type: ignore[assignment]
    lines = ["[storage]", f'path = "{root / "edge.db"}"', "[api]", f'socket = "{root / "api.sock"}"', extra]
    for name, protocol, port in devices:
        lines += ["[[devices]]", f'name = "{name}"', f'protocol = "{protocol}"', f'port = "{port}"']
    path = root / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Proc:
    """A child `python -m edge_app ...` with its output in a log file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._fh = open(log, "ab")
        self.p = subprocess.Popen([sys.executable, "-m", "edge_app", *args], cwd=ROOT, stdin=subprocess.DEVNULL,
                                  stdout=self._fh, stderr=self._fh, env={**os.environ, **(env or {})})

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def terminate(self, timeout: float = 5.0) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        finally:
            self._fh.close()

    def kill9(self) -> None:
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(5)
        self._fh.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Daemon(Proc):
    def __init__(self, config: Path, root: Path, env: dict[str, str] | None = None) -> None:
        self.socket = root / "api.sock"
        # Handover texts print times in the box's zone: UTC here, whatever this machine's zone, so the tests
        # that read them are the same everywhere (a test that wants another zone passes TZ).
        super().__init__(["run", "--config", str(config)], root / "daemon.log", {"TZ": "UTC", **(env or {})})

    def client(self, timeout: float = 5.0) -> httpx.Client:
        return httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket)), base_url="http://edge-app",
                            timeout=timeout)

    def wait_ready(self, timeout: float = 15.0) -> Daemon:
        def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"daemon exited with {self.p.returncode}:\n{self.output()}")
            with self.client(1) as c:
                return c.get("/healthz").status_code == 200

        wait_for(ready, timeout, f"daemon ready; log:\n{self.log}")
        return self

    def get(self, path: str, **params: Any) -> Any:
        with self.client() as c:
            r = c.get(path, params=params)
            assert r.status_code == 200, (r.status_code, r.text)
            return r.json()


class Simulator(Proc):
    """`edge-app simulate PROTOCOL --pty LINK`: a monitor whose cable is this process (kill = unplug)."""

    def __init__(self, protocol: str, link: Path, log: Path, rate: float = 20.0, seed: int = 1,
                 profile: str | None = None) -> None:
        self.link = link
        super().__init__(["simulate", protocol, "--pty", str(link), "--rate", str(rate), "--seed", str(seed),
                          *(["--profile", profile] if profile else [])], log)
        wait_for(lambda: link.exists() or not self.alive(), 10, f"simulator pty at {link}")
        assert self.alive(), self.output()


@contextlib.contextmanager
def tmpfs(mnt: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at mnt: a data partition that fills up without filling the real disk (needs root, as CI)."""
    import pytest

    mnt.mkdir(exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], check=False,
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"this test mounts a {size} tmpfs and needs root: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
