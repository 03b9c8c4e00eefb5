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


def test_nonin_host_commands_are_sent_when_the_config_asks(root: Path, procs: list[Proc]) -> None:
    import time

    from firmware_bridge.codecs.nonin_commands import ACK, set_format_command
    from firmware_bridge.simulate.ports import VirtualSerialPort

    link = root / "tty0"
    port = VirtualSerialPort(link)
    try:
        cfg = write_config(root, extra="")
        cfg.write_text(cfg.read_text() + f'[[devices]]\nname = "mon"\nprotocol = "nonin-df7"\nport = "{link}"\n'
                                         'set_format = true\nset_clock = true\n')
        d = Daemon(cfg, root)
        procs.append(d)
        d.wait_ready()
        got = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(got) < len(set_format_command(7)) + 8:
            got += port.read(256, timeout=0.2)
        assert got.startswith(set_format_command(7)), got.hex()
        assert len(got) > len(set_format_command(7)), "the set-time command follows"
        port.write(bytes([ACK, ACK]))
        wait_for(lambda: "format_accepted" in device(d, "mon")["status_flags"], 5, "the device's ACK in status")
    finally:
        port.close()
