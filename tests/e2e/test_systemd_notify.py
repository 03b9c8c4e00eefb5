"""sd_notify contract with a fake NOTIFY_SOCKET: READY after the API is bound, WATCHDOG pings, STATUS, a fast clean stop."""
from __future__ import annotations

import signal
import socket
import struct
import time
from pathlib import Path

import httpx

from tests.e2e.harness import Daemon, Proc, write_config


def recv(sock: socket.socket, timeout: float) -> tuple[str, int | None]:
    sock.settimeout(timeout)
    msg, anc, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
    pid = None
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", data[:12])[0]
    return msg.decode(), pid


def test_ready_watchdog_status_and_sigterm(root: Path, procs: list[Proc]) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    notify.bind(str(root / "notify.sock"))
    t0 = time.monotonic()
    d = Daemon(write_config(root), root, env={"NOTIFY_SOCKET": str(root / "notify.sock"), "WATCHDOG_USEC": "400000"})
    procs.append(d)
    msg, pid = recv(notify, 15)
    ready_s = time.monotonic() - t0
    lines = msg.splitlines()
    assert "READY=1" in lines and pid == d.pid, msg
    status = [ln for ln in lines if ln.startswith("STATUS=")]
    assert status and status[0].startswith("STATUS=ready: 0 devices"), msg
    # READY means the API answers now, not soon.
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(d.socket)), base_url="http://x") as c:
        assert c.get("/healthz").status_code == 200
    pings = 0
    deadline = time.monotonic() + 3
    while pings < 4 and time.monotonic() < deadline:
        msg, pid = recv(notify, 1.0)  # each well within WATCHDOG_USEC
        if msg == "WATCHDOG=1":
            assert pid == d.pid
            pings += 1
    assert pings == 4
    t_stop = time.monotonic()
    d.p.send_signal(signal.SIGTERM)
    assert d.p.wait(5) == 0, d.output()
    assert time.monotonic() - t_stop < 2.0
    seen = []
    try:
        while True:
            seen.append(recv(notify, 0.2)[0])
    except TimeoutError:
        pass
    assert any("STOPPING=1" in m for m in seen), seen
    assert not d.socket.exists(), "the socket is removed on a clean stop"
    print(f"\nprocess start to READY=1: {ready_s:.2f} s")


def test_logs_carry_journald_priorities(root: Path, procs: list[Proc]) -> None:
    d = Daemon(write_config(root), root, env={"JOURNAL_STREAM": "8:1234"})
    procs.append(d)
    d.wait_ready()
    assert d.terminate() == 0
    lines = [ln for ln in d.output().splitlines() if ln]
    assert lines and all(ln[:3] in {"<3>", "<4>", "<6>", "<7>", "<2>"} for ln in lines), lines
    assert any(ln.startswith("<6>") and "ready:" in ln for ln in lines)
