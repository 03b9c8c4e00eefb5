"""TcpConnectTransport and TcpListenTransport over loopback (127.0.0.1, ephemeral ports only)."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from firmware_bridge.errors import TransportError
from firmware_bridge.transports.base import PortAbsentError
from firmware_bridge.transports.tcp import TcpConnectTransport, TcpListenTransport

HOST = "127.0.0.1"
# GE B40 HL7 Reference Manual 2062665-001 G p.15: one PCD-01 OBX row (bytes only; no decoding here).
PAYLOAD = b"\x0bOBX|11|NM|147842^MDC_ECG_HEART_RATE^MDC|1.5.1.1|80|264864^MDC_DIM_BEAT_PER_MIN^MDC\x1c\r"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def read_exactly(t: TcpConnectTransport | TcpListenTransport, n: int, timeout: float = 2.0) -> bytes:
    got = b""
    while len(got) < n:
        got += await asyncio.wait_for(t.read(), timeout)
    return got


class Monitor:
    """A stand-in monitor that listens (for TcpConnectTransport)."""

    def __init__(self) -> None:
        self.peers: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.arrived = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.peers.append((reader, writer))
            self.arrived.set()

        self.server = await asyncio.start_server(accept, HOST, port)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for _, w in self.peers:
            w.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def monitor() -> AsyncIterator[Monitor]:
    m = Monitor()
    yield m
    await m.stop()


@pytest.fixture
async def listener() -> AsyncIterator[TcpListenTransport]:
    t = TcpListenTransport(HOST, 0, accept_timeout=0.2)
    yield t
    await t.shutdown()


async def test_connect_reads_writes_and_reports_eof(monitor: Monitor) -> None:
    port = await monitor.start()
    t = TcpConnectTransport(HOST, port)
    assert t.describe() == f"tcp://{HOST}:{port}" and not t.is_open
    await t.open()
    assert t.is_open
    await asyncio.wait_for(monitor.arrived.wait(), 2)
    reader, writer = monitor.peers[0]
    writer.write(PAYLOAD)
    assert await read_exactly(t, len(PAYLOAD)) == PAYLOAD
    ack = b"\x0bMSA|AA|1\x1c\r"
    await t.write(ack)  # an ACK back to the monitor
    assert await asyncio.wait_for(reader.readexactly(len(ack)), 2) == ack
    writer.close()  # the monitor hangs up
    with pytest.raises(TransportError, match="connection closed by"):
        await read_exactly(t, 1)
    await t.close()
    await t.close()  # idempotent
    assert not t.is_open


async def test_connect_refused_is_a_transport_error_and_reconnect_works(monitor: Monitor) -> None:
    port = free_port()
    t = TcpConnectTransport(HOST, port)
    with pytest.raises(TransportError, match="connection refused") as info:
        await t.open()
    assert not isinstance(info.value, PortAbsentError)
    await t.close()
    await monitor.start(port)  # the monitor comes up; the same transport object reconnects
    await t.open()
    await asyncio.wait_for(monitor.arrived.wait(), 2)
    await t.close()


async def test_connect_read_and_write_without_a_connection_fail_cleanly() -> None:
    t = TcpConnectTransport(HOST, free_port())
    with pytest.raises(TransportError):
        await t.read()
    with pytest.raises(TransportError):
        await t.write(b"x")


async def test_listen_reports_searching_then_takes_a_monitor(listener: TcpListenTransport) -> None:
    with pytest.raises(PortAbsentError, match=r"listening on 127\.0\.0\.1:\d+"):
        await listener.open()
    port = listener.bound_port
    assert port is not None and port != 0
    await listener.close()  # the driver's close after a miss: keeps listening for the next open
    assert listener.bound_port == port
    reader, writer = await asyncio.open_connection(HOST, port)
    await listener.open()
    assert listener.describe().startswith(f"listening on {HOST}:{port}, monitor {HOST}:")
    writer.write(PAYLOAD)
    assert await read_exactly(listener, len(PAYLOAD)) == PAYLOAD
    await listener.write(b"ack")
    assert await asyncio.wait_for(reader.readexactly(3), 2) == b"ack"
    writer.close()


async def test_listen_disconnect_then_reconnect_without_a_refusal(listener: TcpListenTransport) -> None:
    with pytest.raises(PortAbsentError):
        await listener.open()
    port = listener.bound_port
    assert port is not None
    _, w1 = await asyncio.open_connection(HOST, port)
    await listener.open()
    w1.transport.abort()  # a reset, as from a monitor rebooting
    with pytest.raises(TransportError):
        await read_exactly(listener, 1)
    await listener.close()  # after a lost link the listener stays, so this reconnect is never refused
    _, w2 = await asyncio.open_connection(HOST, port)
    await listener.open()
    w2.write(b"back")
    assert await read_exactly(listener, 4) == b"back"
    w2.close()


async def test_listen_one_monitor_at_a_time_one_waits_the_next_is_refused(
        listener: TcpListenTransport) -> None:
    with pytest.raises(PortAbsentError):
        await listener.open()
    port = listener.bound_port
    assert port is not None
    _, first = await asyncio.open_connection(HOST, port)
    await listener.open()
    second_reader, second = await asyncio.open_connection(HOST, port)  # waits in line
    third_reader, third = await asyncio.open_connection(HOST, port)  # refused: closed at once
    assert await asyncio.wait_for(third_reader.read(), 2) == b""
    first.close()
    with pytest.raises(TransportError):
        await read_exactly(listener, 1)
    await listener.close()
    await listener.open()  # the one in line is served next
    second.write(b"2nd")
    assert await read_exactly(listener, 3) == b"2nd"
    for w in (second, third):
        w.close()


async def test_listen_close_after_a_served_connection_stops_listening(listener: TcpListenTransport) -> None:
    with pytest.raises(PortAbsentError):
        await listener.open()
    port = listener.bound_port
    assert port is not None
    _, w = await asyncio.open_connection(HOST, port)
    await listener.open()
    await listener.close()  # not after a failure: the owner is done with it
    assert listener.bound_port is None
    with pytest.raises(OSError):
        await asyncio.open_connection(HOST, port)
    w.close()


async def test_listen_cancelled_while_waiting_stops_listening() -> None:
    t = TcpListenTransport(HOST, 0, accept_timeout=30)
    task = asyncio.create_task(t.open())
    while t.bound_port is None:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert t.bound_port is None


async def test_listen_on_a_port_in_use_is_a_transport_error() -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        t = TcpListenTransport(HOST, busy.getsockname()[1])
        with pytest.raises(TransportError, match="cannot listen") as info:
            await t.open()
        assert not isinstance(info.value, PortAbsentError)
        await t.close()
