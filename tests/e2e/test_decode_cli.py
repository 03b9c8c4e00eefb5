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


# A PLX spot-check with flags 0x0B (timestamp, measurement status, PAI): 16 bytes, which flags 0x0B of the
# continuous layout (fast, slow, device status) also fills: flags, SpO2 97, PR 61, 2024-01-02 03:04:05,
# measurement status "validated data", PAI 2.5 (SFLOAT 25e-1).
SPOT_0B = "0b" "6100" "3d00" "e807010203040" "5" "8000" "19f0"


def test_ambiguous_plx_value_without_uuid_is_refused_with_the_fix() -> None:
    r = decode("gatt-plx", "--hex", SPOT_0B)
    assert r.returncode == 2 and r.stdout == ""
    [line] = r.stderr.strip().splitlines()
    assert "--uuid 2a5e" in line and "2a5f" in line and "no valid gatt-plx frame" in line


@pytest.mark.parametrize("uuid", ["2a5e", "2A5E", "0x2a5e", "00002a5e-0000-1000-8000-00805f9b34fb"])
def test_uuid_names_the_characteristic_of_a_gatt_value(uuid: str) -> None:
    r = decode("gatt-plx", "--uuid", uuid, "--hex", SPOT_0B)
    assert r.returncode == 0, r.stderr
    got = {d["metric"]: d for d in map(json.loads, r.stdout.splitlines())}
    assert {k: v["value"] for k, v in got.items()} == {"spo2": 97, "pulse_rate": 61, "perfusion_index": 2.5}
    assert got["spo2"]["device_time"] == 1704164645000 and got["spo2"]["flags"] == ["validated_data"]


def test_uuid_of_the_continuous_characteristic_reads_the_other_layout() -> None:
    r = decode("gatt-plx", "--uuid", "2a5f", "--hex", SPOT_0B)
    assert r.returncode == 0, r.stderr
    assert {json.loads(x)["metric"] for x in r.stdout.splitlines()} == {"spo2", "pulse_rate"}


@pytest.mark.parametrize(("args", "words"), [
    (["masimo-ascii", "--uuid", "2a5e", "--text", "x"], "--uuid: masimo-ascii is not a Bluetooth GATT protocol"),
    (["gatt-plx", "--uuid", "2a37", "--hex", "00"], "--uuid 2a37: gatt-plx reads 2a5e, 2a5f"),
    (["gatt-plx", "--uuid", "nope", "--hex", "00"], "--uuid nope: not a Bluetooth UUID"),
])
def test_bad_uuid_exits_2_with_one_line(args: list[str], words: str) -> None:
    r = decode(*args)
    assert r.returncode == 2 and r.stdout == ""
    [line] = r.stderr.strip().splitlines()
    assert words in line, line
