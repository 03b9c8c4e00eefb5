"""One clinical truth, end to end: a real daemon, two simulated oximeters and a BP cuff on ptys, the crew's
entries; the cab screen (under Pilot, and the real TUI in tmux) shows the numbers /vitals returns, and
NEWS2 on screen and from /news2 is the score of exactly those."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from edge_app.tui.app import VitalsApp
from edge_app.tui.widgets.news2 import News2Panel
from edge_app.tui.widgets.tiles import VitalTile
from tests.e2e.harness import ROOT, Daemon, Proc, Simulator, wait_for, write_config
from tests.sysdeps import require_program

E = "/api/v1/encounters"


@pytest.fixture
def job(tmp_path: Path, procs: list[Proc]) -> Iterator[tuple[Daemon, str, dict[str, Any], dict[str, Any]]]:
    """The daemon with ox-a (Masimo), ox-b (Nonin) and a cuff (HL7, measuring every 3 s here); an encounter
    with the crew's RR 22, new confusion, air and 39.2 C; the monitors then unplugged, so the values stand
    still (fresh for two minutes) and every reader can be compared with every other."""
    root = tmp_path
    sims = [Simulator("masimo-ascii", root / "tty-oxa", root / "oxa.log", rate=5.0, seed=1),
            Simulator("nonin-df7", root / "tty-oxb", root / "oxb.log", rate=5.0, seed=2),
            Simulator("hl7-oru", root / "tty-cuff", root / "cuff.log", rate=20.0, seed=3, profile="cuff")]
    procs += sims
    d = Daemon(write_config(root, [("ox-a", "masimo-ascii", root / "tty-oxa"), ("ox-b", "nonin-df7", root / "tty-oxb"),
                                   ("cuff", "hl7-oru", root / "tty-cuff")]), root)
    procs.append(d)
    d.wait_ready()
    with d.client() as c:
        eid = c.post(E, json={"incident_ref": "INC-1"}).json()["id"]
        for metric, value in (("resp_rate", 22), ("consciousness", "C"), ("oxygen_supplement", False),
                              ("temperature", 39.2)):
            assert c.post(f"{E}/{eid}/observations", json={"metric": metric, "value": value}).status_code == 201

        def ready() -> bool:
            v = c.get(f"{E}/{eid}/vitals").json()["vitals"]
            return all(m in v and v[m]["state"] == "current" for m in ("spo2", "pulse_rate", "bp_systolic"))

        wait_for(ready, 20, "SpO2, pulse and BP current")
        for s in sims:
            s.terminate()
        time.sleep(1.0)  # the last readings committed and on the stream
        vitals = c.get(f"{E}/{eid}/vitals").json()["vitals"]
        news2 = c.get(f"{E}/{eid}/news2").json()
    yield d, eid, vitals, news2


def test_news2_scores_exactly_the_vitals(job: tuple[Daemon, str, dict[str, Any], dict[str, Any]]) -> None:
    _, _, vitals, news2 = job
    # Two oximeters: the first configured one is shown and scored, the other is named beside it.
    assert vitals["spo2"]["source"] == "ox-a" and [o["source"] for o in vitals["spo2"]["others"]] == ["ox-b"]
    assert vitals["bp_systolic"]["source"] == "cuff" and vitals["resp_rate"]["source"] == "manual"
    for parameter, metric in (("spo2", "spo2"), ("bp_systolic", "bp_systolic"), ("resp_rate", "resp_rate"),
                              ("temperature", "temperature"), ("consciousness", "consciousness")):
        assert news2["inputs"][parameter]["observation_id"] == vitals[metric]["observation_id"], parameter
    pulse = news2["inputs"]["pulse"]
    assert pulse["metric"] in ("pulse_rate", "heart_rate") and pulse["observation_id"] == \
        vitals[pulse["metric"]]["observation_id"]
    assert news2["total"] is not None and news2["total"] >= 7 and news2["risk"] == "high"  # RR 2, C 3, 39.2 C 2


async def test_the_cab_screen_shows_the_vitals_and_their_news2(
        job: tuple[Daemon, str, dict[str, Any], dict[str, Any]]) -> None:
    d, eid, vitals, news2 = job
    app = VitalsApp(d.socket)
    async with app.run_test(size=(100, 30)) as pilot:
        spo2 = app.query_one("#tile-spo2", VitalTile)
        for _ in range(100):
            await pilot.pause(0.05)
            if spo2.vital is not None and app.news2 is not None and app.news2.total is not None:
                break
        tiles = {t.id: t.vital for t in app.query(VitalTile)}
        assert tiles["tile-spo2"] is not None and tiles["tile-spo2"].observation_id == vitals["spo2"]["observation_id"]
        assert tiles["tile-bp"] is not None and tiles["tile-bp"].value == vitals["bp_systolic"]["value"]
        assert tiles["tile-rr"] is not None and tiles["tile-rr"].value == 22
        pulse_tile = tiles["tile-pulse"]
        assert pulse_tile is not None and pulse_tile.observation_id == news2["inputs"]["pulse"]["observation_id"]
        caption = str(app.query_one("#tile-spo2 .tile-caption", Static).content)
        assert f"SpO2 {vitals['spo2']['value']} %" in caption and "ox-a" in caption
        assert app.news2 is not None and app.news2.total == news2["total"]
        assert str(app.query_one(News2Panel).content).startswith(f"NEWS2 {news2['total']} HIGH")


def test_the_real_tui_in_tmux_reads_the_same_numbers(job: tuple[Daemon, str, dict[str, Any], dict[str, Any]],
                                                     tmp_path: Path) -> None:
    d, _, vitals, news2 = job
    tmux = require_program("tmux", "tmux")
    sock = f"edge-truth-{tmp_path.name}"[:60]
    cmd = f"cd {ROOT} && exec {sys.executable} -m edge_app tui --config {tmp_path / 'config.toml'}"

    def t(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([tmux, "-L", sock, *args], capture_output=True, text=True, timeout=20)

    try:
        assert t("new-session", "-d", "-s", "cab", "-x", "100", "-y", "30", cmd).returncode == 0
        want = f"SpO2 {vitals['spo2']['value']} %"
        screen = wait_for(lambda: (s := t("capture-pane", "-p", "-t", "cab").stdout) and want in s
                          and f"NEWS2 {news2['total']}" in s and s, 30, "the vitals and NEWS2 on the screen")
        bp = f"BP {vitals['bp_systolic']['value']}/{vitals['bp_diastolic']['value']} mmHg"
        assert bp in screen, screen
        assert re.search(r"RR 22 /min", screen), screen
    finally:
        t("kill-server")
