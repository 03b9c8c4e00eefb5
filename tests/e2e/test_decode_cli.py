"""`edge-app decode` as a user runs it: every shared vector of an implemented protocol, and bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_bridge.codecs import implemented_protocols

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "devices.json").read_text())["vectors"]
CASES = [v for v in VECTORS if v.get("protocol") in implemented_protocols()]


def decode(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_app", "decode", *args], capture_output=True, text=True,
                          input=stdin.decode() if stdin else None, timeout=60)


def test_every_shared_protocol_vector_is_for_an_implemented_protocol() -> None:
    shared = {v["protocol"] for v in VECTORS if "protocol" in v}
    assert CASES and shared - set(implemented_protocols()) <= {p for p in shared if p.startswith("gatt-")}, (
        "every serial protocol with a public vector must be decodable")


@pytest.mark.parametrize("vector", CASES, ids=lambda v: f"{v['protocol']}:{v['source'][:40]}")
def test_vector(vector: dict) -> None:
    arg = ["--text", vector["input_text"]] if "input_text" in vector else ["--hex", vector["input_hex"]]
    r = decode(vector["protocol"], *arg)
    assert r.returncode == 0, r.stderr
    got = [json.loads(line) for line in r.stdout.splitlines()]
    for want in vector["readings"]:
        match = [g for g in got if g["metric"] == want["metric"]]
        assert match, f"no {want['metric']} in {got}"
        assert match[0]["unit"] == want["unit"]
        assert abs(match[0]["value"] - want["value"]) <= max(0.01, abs(want["value"]) * 0.001)
    if not vector["readings"]:
        assert got == [], "missing values are not readings"


def test_file_and_stdin(tmp_path: Path) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_bytes(b"09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800\r\n" * 3)
    r = decode("masimo-ascii", "--file", str(capture))
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 9
    r = decode("masimo-ascii", "--file", "-", stdin=capture.read_bytes())
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 9


@pytest.mark.parametrize(("args", "words"), [
    (["masimo-ascii", "--text", "hello world"], "no valid masimo-ascii frame"),
    (["masimo-ascii", "--hex", "zz"], "--hex: not hexadecimal"),
    (["no-such-protocol", "--text", "x"], "unknown protocol 'no-such-protocol'"),
    (["masimo-ascii", "--file", "/nonexistent/capture.txt"], "No such file"),
    (["masimo-ascii", "--hex", ""], "input is empty"),
])
def test_bad_input_exits_2_with_one_line(args: list[str], words: str) -> None:
    r = decode(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], r.stderr
