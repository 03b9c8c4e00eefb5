"""`edge-app demo` as a newcomer runs it: live numbers on screen, q ends everything, nothing left behind."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.harness import ROOT, wait_for
from tests.sysdeps import require_program


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def test_headless_demo_prints_live_readings_and_cleans_up(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "edge_app", "demo", "--headless", "--seconds", "4"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    readings = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert {x["metric"] for x in readings} >= {"spo2", "pulse_rate"}, r.stdout
    assert "# device oximeter: connected" in r.stdout
    assert list(tmp_path.iterdir()) == [], "the throw-away data dir is removed"
    assert processes_mentioning(str(tmp_path)) == []


def test_demo_in_tmux_shows_live_numbers_and_q_quits(tmp_path: Path) -> None:
    tmux = require_program("tmux", "tmux")
    sock = f"edge-demo-{os.getpid()}"
    cmd = f"cd {ROOT} && TMPDIR={tmp_path} exec {sys.executable} -m edge_app demo"

    def t(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([tmux, "-L", sock, *args], capture_output=True, text=True, timeout=20)

    try:
        assert t("new-session", "-d", "-s", "demo", "-x", "100", "-y", "30", cmd).returncode == 0
        wait_for(lambda: "connected" in (s := t("capture-pane", "-p", "-t", "demo").stdout) and "oximeter" in s,
                 30, "the monitors connected")
        # No patient yet: the tiles wait for an encounter (the device table shows what each monitor sends).
        t("send-keys", "-t", "demo", "n")
        wait_for(lambda: "incident reference" in t("capture-pane", "-p", "-t", "demo").stdout, 10, "the ref prompt")
        t("send-keys", "-t", "demo", "INC-1", "Enter")
        wait_for(lambda: "encounter open since" in t("capture-pane", "-p", "-t", "demo").stdout, 10, "new encounter")
        screen = wait_for(lambda: (s := t("capture-pane", "-p", "-t", "demo").stdout)
                          and re.search(r"SpO2 \d+ % · \d+ s", s) and s, 30, "live SpO2 on the screen")
        assert re.search(r"Pulse \d+ /min · \d+ s", screen), screen
        t("send-keys", "-t", "demo", "q")
        wait_for(lambda: t("has-session", "-t", "demo").returncode != 0, 15, "the demo to exit on q")
    finally:
        t("kill-server")
    wait_for(lambda: processes_mentioning(str(tmp_path)) == [], 5, "no demo process left")
    time.sleep(0.2)
    assert list(tmp_path.iterdir()) == []
