"""SerialTransport over a real pty (fd + add_reader) and over socket:// (worker thread)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import serial  # type: ignore[import-untyped]

from firmware_bridge.errors import TransportError
from firmware_bridge.simulate.ports import VirtualSerialPort
from firmware_bridge.transports.base import PortAbsentError
from firmware_bridge.transports.serial import SerialTransport, port_present

# Radical-5 example line (mdpnp/mdpnp other/pox_rad/src/poxrad_discrete.h).
LINE = b"09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800\r\n"


async def read_exactly(t: SerialTransport, n: int, timeout: float = 2.0) -> bytes:
    got = b""
    while len(got) < n:
        got += await asyncio.wait_for(t.read(), timeout)
    return got


def test_port_present(tmp_path: Path, vport: VirtualSerialPort) -> None:
    assert port_present(str(vport.link))
    assert not port_present(str(tmp_path / "nothing"))
    assert port_present("socket://127.0.0.1:1")
    vport.unplug()
    assert not port_present(str(vport.link))


def test_describe() -> None:
    assert SerialTransport("/dev/ttyUSB0").describe() == "/dev/ttyUSB0 9600 8N1"
    assert SerialTransport("/dev/ttyS1", 19200, 7, "E", 2).describe() == "/dev/ttyS1 19200 7E2"


async def test_absent_port_raises_port_absent(tmp_path: Path) -> None:
    with pytest.raises(PortAbsentError):
        await SerialTransport(str(tmp_path / "ttyNONE")).open()


async def test_unopenable_port_raises_transport_error(tmp_path: Path) -> None:
    not_a_tty = tmp_path / "file"
    not_a_tty.write_bytes(b"")
    with pytest.raises(TransportError) as info:
        await SerialTransport(str(not_a_tty)).open()
    assert not isinstance(info.value, PortAbsentError)
    assert "\n" not in str(info.value)


async def test_reads_writes_and_sees_hang_up(vport: VirtualSerialPort) -> None:
    t = SerialTransport(str(vport.link))
    await t.open()
    assert t.is_open
    vport.write(LINE)
    assert await read_exactly(t, len(LINE)) == LINE
    await t.write(b"ACK\r\n")
    assert vport.read(timeout=2) == b"ACK\r\n"
    vport.unplug()
    with pytest.raises(TransportError):
        await asyncio.wait_for(t.read(), 2)
    await t.close()
    await t.close()  # idempotent
    assert not t.is_open


async def test_second_reader_is_refused(vport: VirtualSerialPort) -> None:
    first, second = SerialTransport(str(vport.link)), SerialTransport(str(vport.link))
    await first.open()
    try:
        with pytest.raises(TransportError, match="lock"):
            await second.open()
    finally:
        await first.close()
    await second.open()  # the lock went with close()
    await second.close()


async def test_close_wakes_a_waiting_read(vport: VirtualSerialPort) -> None:
    t = SerialTransport(str(vport.link))
    await t.open()
    reader = asyncio.create_task(t.read())
    await asyncio.sleep(0.05)
    await t.close()
    with pytest.raises(TransportError):
        await asyncio.wait_for(reader, 2)


async def test_read_does_not_block_the_loop(vport: VirtualSerialPort) -> None:
    t = SerialTransport(str(vport.link))
    await t.open()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    reader = asyncio.create_task(t.read())
    await asyncio.sleep(0.3)  # nothing to read: a blocking read would freeze the ticker
    vport.write(LINE)
    assert await asyncio.wait_for(reader, 2)
    tick_task.cancel()
    await t.close()
    assert ticks >= 10


async def test_read_before_open_raises() -> None:
    with pytest.raises(TransportError):
        await SerialTransport("/dev/null").read()


async def test_socket_url_is_read_in_a_thread_and_eof_is_an_error() -> None:
    peers: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await peers.put(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    t = SerialTransport(f"socket://127.0.0.1:{port}")
    try:
        await t.open()
        peer = await asyncio.wait_for(peers.get(), 2)
        peer.write(LINE)
        await peer.drain()
        assert await read_exactly(t, len(LINE)) == LINE
        await t.write(b"ACK")
        peer.close()
        with pytest.raises(TransportError, match="disconnected"):
            await read_exactly(t, 1)
    finally:
        await t.close()
        server.close()
        await server.wait_closed()


async def test_refused_socket_is_a_transport_error() -> None:
    with pytest.raises(TransportError):
        await SerialTransport("socket://127.0.0.1:1").open()


def test_serial_exception_is_an_oserror_so_callers_can_catch_both() -> None:
    assert issubclass(serial.SerialException, OSError)
