"""Each serial protocol from its simulator through the real daemon into the store (HL7 also over TCP)."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.harness import Daemon, Proc, Simulator, wait_for, write_config

EXPECTED = {
    "masimo-ascii": {"spo2", "pulse_rate", "perfusion_index"},
    "nonin-df2": {"spo2", "pulse_rate"},
    "nonin-df7": {"spo2", "pulse_rate"},
    "nonin-df8": {"spo2", "pulse_rate"},
    "nonin-df13": {"spo2", "pulse_rate"},
    "hl7-oru": {"spo2", "heart_rate", "resp_rate"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stored_metrics(d: Daemon, device: str) -> set[str]:
    return {o["metric"] for o in d.get("/api/v1/observations", device=device, limit=5000)}


def device(d: Daemon, name: str) -> dict:
    return next(x for x in d.get("/api/v1/devices") if x["name"] == name)


@pytest.mark.parametrize("protocol", sorted(EXPECTED))
def test_protocol_over_a_pty(protocol: str, root: Path, procs: list[Proc]) -> None:
    link = root / "tty0"
    procs.append(Simulator(protocol, link, root / "sim.log", rate=4))
    d = Daemon(write_config(root, [("mon", protocol, link)]), root)
    procs.append(d)
    d.wait_ready()
    wait_for(lambda: stored_metrics(d, "mon") >= EXPECTED[protocol], 15, f"{protocol} metrics stored")
    dev = device(d, "mon")
    assert dev["state"] == "connected" and dev["counters"]["frames_ok"] > 0 and dev["last_frame_at"]
    assert {"frames_bad", "resyncs", "bytes_in"} <= set(dev["counters"])


def test_hl7_monitor_connects_in_over_tcp(root: Path, procs: list[Proc]) -> None:
    port = free_port()
    cfg = write_config(root, extra="")
    cfg.write_text(cfg.read_text() + f'[[devices]]\nname = "mon"\nprotocol = "hl7-oru"\nlisten = "127.0.0.1:{port}"\n')
    d = Daemon(cfg, root)
    procs.append(d)
    d.wait_ready()
    sim = Proc(["simulate", "hl7-oru", "--connect", f"127.0.0.1:{port}", "--rate", "4"], root / "sim.log")
    procs.append(sim)
    wait_for(lambda: stored_metrics(d, "mon") >= EXPECTED["hl7-oru"], 15, "HL7 over TCP (monitor connects in)")
    assert device(d, "mon")["state"] == "connected"


def test_hl7_daemon_connects_out_over_tcp(root: Path, procs: list[Proc]) -> None:
    port = free_port()
    sim = Proc(["simulate", "hl7-oru", "--listen", f"127.0.0.1:{port}", "--rate", "4"], root / "sim.log")
    procs.append(sim)
    cfg = write_config(root, extra="")
    cfg.write_text(cfg.read_text() + f'[[devices]]\nname = "mon"\nprotocol = "hl7-oru"\nport = "tcp://127.0.0.1:{port}"\n')
    d = Daemon(cfg, root)
    procs.append(d)
    d.wait_ready()
    wait_for(lambda: stored_metrics(d, "mon") >= EXPECTED["hl7-oru"], 15, "HL7 over TCP (daemon connects out)")
