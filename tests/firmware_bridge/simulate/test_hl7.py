"""The PCD-01 simulator: its messages decode, it counts ACKs, and it runs against a Driver over TCP."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware_bridge.codecs.hl7_er7 import parse_message
from firmware_bridge.codecs.hl7_mllp import START, frame
from firmware_bridge.codecs.hl7_oru import Hl7OruCodec
from firmware_bridge.driver import DeviceState, Driver, DriverStatus
from firmware_bridge.reading import Reading
from firmware_bridge.simulate import simulate_main, simulator_for
from firmware_bridge.simulate.hl7 import Hl7Simulator, host_port, run_tcp
from firmware_bridge.simulate.ports import VirtualSerialPort
from firmware_bridge.simulate.runner import _draining
from firmware_bridge.transports.tcp import TcpConnectTransport, TcpListenTransport
from tests.firmware_bridge.waiting import wait_for

ROOT = Path(__file__).parents[3]
T0 = datetime(2024, 3, 1, 10, 15, 0, tzinfo=UTC)
HOST = "127.0.0.1"


def run_frames(sim: Hl7Simulator, n: int) -> tuple[list[list[Reading]], Hl7OruCodec]:
    codec = Hl7OruCodec()
    out = []
    for i in range(n):
        out.append(codec.feed(sim.next_frame(T0 + timedelta(seconds=i))))
        sim.receive(codec.take_output())
    return out, codec


def test_messages_are_pcd01_and_decode_completely() -> None:
    sim = Hl7Simulator(seed=1)
    data = sim.next_frame(T0)
    assert data[0] == START and data.endswith(b"\x1c\r")
    message = parse_message(data[1:-2].decode())
    assert [s.name for s in message.segments][:5] == ["MSH", "PID", "PV1", "OBR", "OBX"]
    msh = message.msh
    assert msh.raw(9) == "ORU^R01^ORU_R01" and msh.raw(12) == "2.6" and msh.raw(7) == "20240301101500+0000"
    assert msh.component(21, 1) == "IHE_PCD_001" and msh.raw(16) == "AL"
    codec = Hl7OruCodec()
    got = {str(r.metric) for r in codec.feed(data)}
    assert got == {"heart_rate", "spo2", "pulse_rate", "perfusion_index", "resp_rate", "temperature",
                   "bp_systolic", "bp_diastolic", "bp_mean"}  # the first message carries a cuff reading
    assert codec.skipped == {"header": 1} and codec.stats.frames_bad == 0


def test_nibp_every_so_often_with_its_own_time_and_the_same_seed_is_the_same_patient() -> None:
    frames, codec = run_frames(Hl7Simulator(seed=7, nibp_every=5), 12)
    with_nibp = [i for i, rs in enumerate(frames) if any(str(r.metric) == "bp_systolic" for r in rs)]
    assert with_nibp == [0, 5, 10]
    sys_ = next(r for r in frames[5] if str(r.metric) == "bp_systolic")
    assert sys_.device_time == int((T0 + timedelta(seconds=5)).timestamp() * 1000)
    assert codec.stats.frames_ok == 12
    a, b = Hl7Simulator(seed=3), Hl7Simulator(seed=3)
    assert [a.next_frame(T0) for _ in range(5)] == [b.next_frame(T0) for _ in range(5)]


def test_values_stay_physiological_and_sensor_off_spells_show_as_status() -> None:
    sim = Hl7Simulator(seed=2)
    frames, codec = run_frames(sim, 400)
    spo2 = [r.value for rs in frames for r in rs if str(r.metric) == "spo2"]
    assert spo2 and all(85 <= float(v) <= 100 for v in spo2)
    assert codec.skipped["status_x"] > 0  # the probe came off at least once in 400 s
    assert codec.stats.frames_ok == 400 and sim.acked == 400 and not sim.pending


def test_receive_counts_accepts_and_refusals() -> None:
    sim = Hl7Simulator(seed=2)
    sim.next_frame(T0)
    sim.next_frame(T0)
    sim.receive(frame(b"MSH|^~\\&|EDGE-APP||||x||ACK^R01^ACK|SIM00000001|P|2.6\rMSA|AA|SIM00000001\r")[:20])
    sim.receive(frame(b"MSH|^~\\&|EDGE-APP||||x||ACK^R01^ACK|SIM00000001|P|2.6\rMSA|AA|SIM00000001\r")[20:]
                + b"noise" + frame(b"MSH|^~\\&|E||||x||ACK|SIM00000002|P|2.6\rMSA|AE|SIM00000002|bad\r"))
    assert (sim.acked, sim.refused, sim.pending) == (1, 1, {})


def test_registered_for_the_runner() -> None:
    assert isinstance(simulator_for("hl7-oru", 1), Hl7Simulator)


class Recorder:
    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.statuses: list[DriverStatus] = []

    def on_readings(self, readings: list[Reading], _received_at: int) -> None:
        self.readings += readings

    def on_status(self, status: DriverStatus) -> None:
        self.statuses.append(status)


async def stop_all(*tasks: asyncio.Task[object]) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_driver_reads_a_listening_simulator_and_its_acks_arrive() -> None:
    sim, rec, stop = Hl7Simulator(seed=5), Recorder(), asyncio.Event()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    sim_task = asyncio.create_task(run_tcp(sim, listen=(HOST, 0), rate_hz=50, stop=stop,
                                           on_ready=lambda _h, p: ready.set_result(p)))
    port = await asyncio.wait_for(ready, 2)
    driver = Driver("hl7", TcpConnectTransport(HOST, port), Hl7OruCodec(), on_readings=rec.on_readings,
                    on_status=rec.on_status)
    drive = asyncio.create_task(driver.run())
    try:
        await wait_for(lambda: sim.acked >= 5, what="ACKs at the simulator")
        assert {"heart_rate", "spo2"} <= {str(r.metric) for r in rec.readings}
        assert rec.statuses[-1].state == DeviceState.CONNECTED and sim.refused == 0
    finally:
        stop.set()
        await asyncio.wait_for(sim_task, 2)
        await stop_all(drive)


async def test_simulator_connects_to_a_listening_driver_and_reconnects() -> None:
    sim, rec, stop = Hl7Simulator(seed=6), Recorder(), asyncio.Event()
    listen = TcpListenTransport(HOST, 0, accept_timeout=0.2)
    driver = Driver("hl7", listen, Hl7OruCodec(), on_readings=rec.on_readings, on_status=rec.on_status)
    drive = asyncio.create_task(driver.run())
    await wait_for(lambda: listen.bound_port is not None, what="listening")
    await wait_for(lambda: any(s.state == DeviceState.SEARCHING for s in rec.statuses), what="searching")
    port = listen.bound_port
    assert port is not None and rec.statuses[-1].detail == f"listening on {HOST}:{port}"
    sim_task = asyncio.create_task(run_tcp(sim, connect=(HOST, port), rate_hz=50, stop=stop))
    try:
        await wait_for(lambda: sim.acked >= 3, what="ACKs at the simulator")
        acked = sim.acked
        # The bridge drops the link (as on a codec reset or a network blip): the monitor comes back.
        assert listen._writer is not None
        listen._writer.transport.abort()
        await wait_for(lambda: sim.acked >= acked + 3, timeout=5, what="ACKs after reconnecting")
        assert driver.status.counters["opens"] >= 2
    finally:
        stop.set()
        await asyncio.wait_for(sim_task, 2)
        await stop_all(drive)
    assert listen.bound_port is None  # cancelling the driver stopped the listener


def test_draining_write_keeps_a_pty_from_filling(vport: VirtualSerialPort) -> None:
    fd = os.open(str(vport.link), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        os.write(fd, b"\x0bMSH|ack\x1c\r" * 200)  # ACKs the bridge wrote back
        _draining(vport)(Hl7Simulator(seed=1).next_frame(T0))
        assert vport.read(timeout=0) == b""
    finally:
        os.close(fd)


def test_host_port() -> None:
    assert host_port("127.0.0.1:2575") == ("127.0.0.1", 2575)
    assert host_port("[::1]:0") == ("::1", 0)
    for bad in ("2575", "host:", ":1", "h:99999", "h:x"):
        with pytest.raises(ValueError):
            host_port(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"protocol": "masimo-ascii", "listen": "127.0.0.1:0"}, "are for hl7-oru"),
    ({"protocol": "hl7-oru", "listen": "nowhere"}, "expected HOST:PORT"),
    ({"protocol": "hl7-oru", "listen": "127.0.0.1:0", "pty_link": "/tmp/x"}, "exactly one"),
])
def test_simulate_main_tcp_bad_arguments_exit_2(kwargs: dict[str, str], message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    args = {"port": None, "pty_link": None, "rate_hz": 1.0, "seed": None, **kwargs}
    assert simulate_main(**args) == 2  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_edge_app_simulate_listen_until_sigterm() -> None:
    p = subprocess.Popen([sys.executable, "-m", "edge_app", "simulate", "hl7-oru", "--listen", f"{HOST}:0",
                          "--rate", "20", "--seed", "1"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        banner = p.stdout.readline()
        assert banner.startswith(f"simulating hl7-oru on tcp listen {HOST}:") and "Ctrl+C" in banner
        port = int(banner.split(f"{HOST}:")[1].split()[0])

        async def read_one() -> list[Reading]:
            t = TcpConnectTransport(HOST, port)
            await t.open()
            codec, got = Hl7OruCodec(), list[Reading]()
            try:
                while not got:
                    got = codec.feed(await asyncio.wait_for(t.read(), 3))
                await t.write(codec.take_output())
            finally:
                await t.close()
            return got

        assert asyncio.run(read_one())
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=5)
    assert p.returncode == 0, err
