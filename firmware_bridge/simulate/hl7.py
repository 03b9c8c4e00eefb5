"""A simulated PCD-01 monitor: real ORU^R01 messages over MLLP (serial or TCP), reading the ACKs back."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from firmware_bridge.codecs.base import CodecStats
from firmware_bridge.codecs.hl7_er7 import Hl7SyntaxError, parse_message
from firmware_bridge.codecs.hl7_mllp import MllpDeframer, frame
from firmware_bridge.simulate.patient import PatientModel, Vitals

_LOGGER = logging.getLogger(__name__)

NIBP_EVERY = 30  # a cuff measurement every 30 messages (every 30 s at the default rate)
SENSOR_OFF_START_P = 1 / 117  # as the Masimo simulator: about 1 message in 40 has the probe off
SENSOR_OFF_RUN = (2, 4)
# IHE PCD-01 profile identifier (MSH-21) and an EUI-64 device id, as in the GE and Mindray examples.
PCD_01_PROFILE = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
RECONNECT_S = 0.5


def _stamp(when: datetime) -> str:
    """HL7 DTM to the second, with the UTC offset when the time has a zone."""
    offset = when.strftime("%z") if when.tzinfo is not None else ""
    return when.strftime("%Y%m%d%H%M%S") + offset


def _walk(value: float, mean: float, pull: float, noise: float, rng_gauss: float, low: float,
          high: float) -> float:
    # Mean-reverting random walk, like PatientModel's, for the values it does not model.
    return min(high, max(low, value + pull * (mean - value) + noise * rng_gauss))


def oru_header(control_id: str, ts: str, eui: str) -> list[str]:
    """The segments every simulated PCD-01 ORU^R01 starts with: MSH, PID, PV1, OBR and the MDS row."""
    return [
        f"MSH|^~\\&|{eui}|EDGE_SIM|||{ts}||ORU^R01^ORU_R01|{control_id}|P|2.6|||NE|AL||UNICODE UTF-8|||"
        f"{PCD_01_PROFILE}",
        "PID|||SIM0001^^^EDGE_SIM^MR||SIMULATED^PATIENT^^^^^L",
        "PV1||E|AMBULANCE^^1",
        f"OBR|1|{control_id}^{eui}|{control_id}^{eui}|182777000^monitoring of patient^SCT|||{ts}",
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
    ]


def oru_r01(control_id: str, when: datetime, vitals: Vitals | None, *, heart_rate: int, resp_rate: int,
            temperature: float, nibp: tuple[int, int, int, datetime] | None, device_id: str) -> str:
    """One PCD-01 ORU^R01 (segments joined by CR); vitals None sends the oximeter rows with status X."""
    ts = _stamp(when)
    rows = oru_header(control_id, ts, f"EDGE_SIM^{device_id}^EUI-64")

    def obx(code: str, sub: str, value: object, unit: str, status: str = "R", at: str = ts) -> None:
        rows.append(f"OBX|{len(rows) - 3}|NM|{code}|{sub}|{value}|{unit}|||||{status}|||{at}")

    bpm, pct = "264864^MDC_DIM_BEAT_PER_MIN^MDC", "262688^MDC_DIM_PERCENT^MDC"
    obx("147842^MDC_ECG_HEART_RATE^MDC", "1.1.1.1", heart_rate, bpm)
    if vitals is None:
        obx("150456^MDC_PULS_OXIM_SAT_O2^MDC", "1.2.1.1", "", pct, "X")
        obx("149530^MDC_PULS_OXIM_PULS_RATE^MDC", "1.2.1.2", "", bpm, "X")
    else:
        obx("150456^MDC_PULS_OXIM_SAT_O2^MDC", "1.2.1.1", vitals.spo2, pct)
        obx("149530^MDC_PULS_OXIM_PULS_RATE^MDC", "1.2.1.2", vitals.pulse_rate, bpm)
        obx("150488^MDC_BLD_PERF_INDEX^MDC", "1.2.1.3", f"{vitals.perfusion_index:.2f}", pct)
    obx("151562^MDC_RESP_RATE^MDC", "1.3.1.1", resp_rate, "264928^MDC_DIM_RESP_PER_MIN^MDC")
    obx("150344^MDC_TEMP^MDC", "1.4.1.1", f"{temperature:.1f}", "268192^MDC_DIM_DEGC^MDC")
    if nibp is not None:
        sys_, dia, mean, taken = nibp
        mmhg, at = "266016^MDC_DIM_MMHG^MDC", _stamp(taken)
        obx("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "1.5.1.1", sys_, mmhg, at=at)
        obx("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "1.5.1.2", dia, mmhg, at=at)
        obx("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", "1.5.1.3", mean, mmhg, at=at)
    return "\r".join(rows) + "\r"


class Hl7Simulator:
    """A PCD-01 monitor on a patient: next_frame() gives each second's framed ORU^R01; receive() takes
    the bridge's ACKs and counts them (acked, refused, pending by message control id)."""

    baudrate = 9600

    def __init__(self, seed: int | None = None, *, device_id: str = "0011223344556677",
                 nibp_every: int = NIBP_EVERY) -> None:
        self.patient = PatientModel(seed)
        self.device_id = device_id
        self.nibp_every = nibp_every
        self.sent = 0
        self.acked = 0
        self.refused = 0
        self.pending: dict[str, int] = {}  # control id -> message number, until its ACK comes
        self.last_vitals: Vitals | None = None
        rng = self.patient.rng
        self._resp = 16.0 + rng.uniform(-2, 2)
        self._temp = 36.9 + rng.uniform(-0.3, 0.3)
        self._off_left = 0
        self._acks = MllpDeframer(CodecStats())

    def next_frame(self, when: datetime) -> bytes:
        """The next message, MLLP framed."""
        vitals = self.patient.step()
        rng = self.patient.rng
        if self._off_left == 0 and self.last_vitals is not None and rng.random() < SENSOR_OFF_START_P:
            self._off_left = rng.randint(*SENSOR_OFF_RUN)
        shown: Vitals | None = vitals
        if self._off_left:
            self._off_left -= 1
            shown = None
        self._resp = _walk(self._resp, 16.0, 0.05, 0.4, rng.gauss(0, 1), 8, 35)
        self._temp = _walk(self._temp, 36.9, 0.02, 0.02, rng.gauss(0, 1), 35.0, 40.0)
        nibp = None
        if self.sent % self.nibp_every == 0:
            sys_ = round(rng.gauss(124, 6))
            dia = round(rng.gauss(78, 4))
            # The cuff finished a few seconds ago; its OBX-14 says when, not when the message went.
            nibp = (sys_, dia, round(dia + (sys_ - dia) / 3), when.replace(microsecond=0))
        self.sent += 1
        control_id = f"SIM{self.sent:08d}"
        self.pending[control_id] = self.sent
        self.last_vitals = shown
        # An ECG heart rate tracks the pulse, a beat or so apart.
        heart_rate = vitals.pulse_rate + round(rng.gauss(0, 0.7))
        text = oru_r01(control_id, when, shown, heart_rate=heart_rate, resp_rate=round(self._resp),
                       temperature=self._temp, nibp=nibp, device_id=self.device_id)
        return frame(text.encode("ascii"))

    def receive(self, data: bytes) -> None:
        """Bytes the bridge sent back: count each ACK against the message it answers."""
        for f in self._acks.feed(data):
            try:
                ack = parse_message(f.payload.decode("latin-1"))
            except Hl7SyntaxError:
                continue
            msa = next((s for s in ack.segments if s.name == "MSA"), None)
            if msa is None:
                continue
            self.pending.pop(msa.raw(2), None)
            if msa.raw(1) == "AA":
                self.acked += 1
            else:
                self.refused += 1
                _LOGGER.debug("simulator: %s for %s: %s", msa.raw(1), msa.raw(2), msa.raw(3))


class _Peer:
    """The simulator's one TCP peer: a newer connection replaces an older one."""

    def __init__(self, sim: Hl7Simulator) -> None:
        self.sim = sim
        self.writer: asyncio.StreamWriter | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Take ACKs from this connection until it ends."""
        old, self.writer = self.writer, writer
        if old is not None:
            old.close()
        try:
            while data := await reader.read(65536):
                self.sim.receive(data)
        except (ConnectionError, OSError):
            pass
        finally:
            if self.writer is writer:
                self.writer = None
            writer.close()

    def write(self, data: bytes) -> None:
        """Send a message to the peer, if there is one."""
        # No one connected, or a connection going away: the message is lost, as from a real monitor.
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(data)


async def run_tcp(sim: Hl7Simulator, *, listen: tuple[str, int] | None = None,
                  connect: tuple[str, int] | None = None, rate_hz: float = 1.0,
                  stop: asyncio.Event | None = None,
                  on_ready: Callable[[str, int], None] | None = None) -> int:
    """Send sim's messages over TCP (listen, or connect and reconnect) until stop; returns frames sent."""
    if (listen is None) == (connect is None):
        raise ValueError("give exactly one of listen or connect")
    stop = stop or asyncio.Event()
    peer = _Peer(sim)
    server: asyncio.Server | None = None
    dialer: asyncio.Task[None] | None = None
    if listen is not None:
        server = await asyncio.start_server(peer.serve, *listen)
        if on_ready is not None:
            on_ready(listen[0], int(server.sockets[0].getsockname()[1]))
    else:
        assert connect is not None
        dialer = asyncio.create_task(_dial(peer, connect, stop))
        if on_ready is not None:
            on_ready(*connect)
    loop = asyncio.get_running_loop()
    next_tick, sent = loop.time(), 0
    try:
        while not stop.is_set():
            peer.write(sim.next_frame(datetime.now(UTC)))
            sent += 1
            next_tick = max(next_tick + 1.0 / rate_hz, loop.time())
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: see transports.tcp on wait_for
                async with asyncio.timeout(next_tick - loop.time()):
                    await stop.wait()
    finally:
        if dialer is not None:
            dialer.cancel()
            await asyncio.gather(dialer, return_exceptions=True)
        if peer.writer is not None:
            peer.writer.close()
        if server is not None:
            server.close()
            await server.wait_closed()
    return sent


async def _dial(peer: _Peer, address: tuple[str, int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(*address)
        except OSError as exc:  # the bridge is not listening (yet): a monitor keeps trying
            _LOGGER.debug("simulator: connect %s:%s: %s", *address, exc)
        else:
            await peer.serve(reader, writer)
        await asyncio.sleep(RECONNECT_S)


def host_port(text: str) -> tuple[str, int]:
    """"HOST:PORT" (IPv6 in brackets) as a pair; ValueError if it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def simulate_tcp_main(protocol: str, *, listen: str | None, connect: str | None, rate_hz: float,
                      seed: int | None) -> int:
    """`edge-app simulate hl7-oru --listen|--connect HOST:PORT`: run until SIGINT/SIGTERM; 2 on bad args."""
    if protocol != "hl7-oru":
        print(f"edge-app simulate: --listen/--connect are for hl7-oru, not {protocol}", file=sys.stderr)
        return 2
    try:
        address = host_port(listen if listen is not None else connect or "")
    except ValueError as exc:
        print(f"edge-app simulate: {exc}", file=sys.stderr)
        return 2
    sim = Hl7Simulator(seed)

    def ready(host: str, port: int) -> None:
        where = f"tcp listen {host}:{port}" if listen is not None else f"tcp://{host}:{port}"
        print(f"simulating {protocol} on {where} at {rate_hz:g} Hz; Ctrl+C to stop", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_tcp(sim, listen=address if listen is not None else None,
                      connect=address if connect is not None else None, rate_hz=rate_hz, stop=stop,
                      on_ready=ready)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 0
    except OSError as exc:  # the address is in use, or not ours
        print(f"edge-app simulate: {listen or connect}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
