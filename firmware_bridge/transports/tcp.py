"""TCP as an async Transport for HL7 over MLLP: listen for a monitor, or connect out to one."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from firmware_bridge.errors import TransportError
from firmware_bridge.transports.base import PortAbsentError, Transport

_LOGGER = logging.getLogger(__name__)

_READ_SIZE = 65536
# asyncio.timeout, never wait_for: on 3.11 wait_for swallows a cancellation that lands as the awaited
# thing finishes (CPython gh-86296), and a driver that cannot be cancelled never lets go of its port.
_CLOSE_TIMEOUT_S = 1.0
# A monitor that loses power leaves a half-open connection no read will ever end; keepalive probes find
# it in about IDLE + INTERVAL * COUNT seconds, and the listener is then free for the monitor's return.
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3


def _keepalive(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError, AttributeError):  # options missing off Linux: keepalive defaults
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "?"


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(_CLOSE_TIMEOUT_S):
            await writer.wait_closed()


class _TcpStream(Transport):
    """Reading, writing and closing one connection; subclasses say how a connection is made."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._peer = ""
        # True after a failure the driver will retry (see TcpListenTransport.close).
        self._failed = False

    @property
    def is_open(self) -> bool:
        """Whether a connection is up."""
        return self._writer is not None

    def _attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _keepalive(writer)
        self._reader, self._writer, self._peer = reader, writer, _peer(writer)
        self._failed = False
        _LOGGER.debug("%s: connected (peer %s)", self.describe(), self._peer)

    def address(self) -> str:
        """host:port for messages."""
        return f"{self.host}:{self.port}"

    def _fail(self, message: str, exc: BaseException | None = None) -> TransportError:
        self._failed = True
        return TransportError(f"{self.address()}: {message}" + (f": {exc}" if exc else ""))

    async def read(self) -> bytes:
        """Wait for at least one byte; TransportError when the peer closes or resets the connection."""
        if self._reader is None:
            raise TransportError(f"{self.address()}: not connected")
        try:
            data = await self._reader.read(_READ_SIZE)
        except (ConnectionError, OSError) as exc:
            raise self._fail("connection lost", exc) from exc
        if not data:
            raise self._fail(f"connection closed by {self._peer or 'peer'}")
        return data

    async def write(self, data: bytes) -> None:
        """Send bytes (e.g. an ACK); TransportError if the connection is gone."""
        if self._writer is None or self._writer.is_closing():
            raise TransportError(f"{self.address()}: not connected")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise self._fail("write failed", exc) from exc

    async def _close_connection(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            await _close_writer(writer)
            _LOGGER.debug("%s: connection closed", self.describe())


class TcpConnectTransport(_TcpStream):
    """Connect out to a monitor that listens (e.g. a gateway's HL7 port); the driver reconnects."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 5.0) -> None:
        super().__init__(host, port)
        self.connect_timeout = connect_timeout

    def describe(self) -> str:
        """e.g. "tcp://10.0.0.5:2575"."""
        return f"tcp://{self.host}:{self.port}"

    async def open(self) -> None:
        """Connect; TransportError if refused, unreachable or slow (the driver retries with backoff)."""
        if self._writer is not None:
            return
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError as exc:
            raise self._fail(f"no answer within {self.connect_timeout:g} s") from exc
        except ConnectionRefusedError as exc:
            raise self._fail("connection refused") from exc
        except OSError as exc:  # unreachable network, unknown host name
            raise self._fail("cannot connect", exc) from exc
        self._attach(reader, writer)

    async def close(self) -> None:
        """Close the connection; idempotent."""
        await self._close_connection()


class TcpListenTransport(_TcpStream):
    """Listen for a monitor to connect in; one at a time, one more may wait in line, others are refused.

    open() waits up to accept_timeout for a connection, then raises PortAbsentError ("listening on
    host:port") so the driver shows the device as searching. The listener stays up across the driver's
    retries: a close() that follows such a miss, or a lost connection, keeps listening so a monitor that
    reconnects at once is never refused. Any other close(), and cancellation, stops listening.
    """

    def __init__(self, host: str, port: int, *, accept_timeout: float = 1.0) -> None:
        super().__init__(host, port)
        self.accept_timeout = accept_timeout
        self._server: asyncio.Server | None = None
        self._waiting: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None = None

    def describe(self) -> str:
        """e.g. "listening on 0.0.0.0:2575, monitor 10.0.0.7:40112"."""
        where = f"listening on {self.address()}"
        return f"{where}, monitor {self._peer}" if self._writer is not None else where

    def address(self) -> str:
        """host:port, with the port actually bound once listening (port 0 asks for any)."""
        return f"{self.host}:{self.bound_port or self.port}"

    @property
    def bound_port(self) -> int | None:
        """The port actually listened on (differs from `port` when that was 0); None when not listening."""
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def open(self) -> None:
        """Wait for a monitor; PortAbsentError after accept_timeout with none, TransportError if the
        address cannot be listened on (in use, not ours)."""
        if self._writer is not None:
            return
        queue = await self._listen()
        try:
            async with asyncio.timeout(self.accept_timeout):
                reader, writer = await queue.get()
        except TimeoutError:
            self._failed = True
            raise PortAbsentError(f"listening on {self.address()}") from None
        except asyncio.CancelledError:
            await self._stop_listening()
            raise
        self._attach(reader, writer)

    async def close(self) -> None:
        """Close the connection, and stop listening unless the driver is about to retry (see class)."""
        retrying, self._failed = self._failed, False
        try:
            await self._close_connection()
        finally:
            if not retrying:
                await self._stop_listening()

    async def shutdown(self) -> None:
        """Close everything now, whatever came before."""
        self._failed = False
        await self.close()

    async def _listen(self) -> asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        if self._server is not None and self._waiting is not None:
            return self._waiting
        queue: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue(maxsize=1)

        def arrived(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if queue.full():
                # A third monitor (or a port scan) while one is served and one waits: refuse it.
                _LOGGER.info("%s: refused a connection from %s (busy)", self.describe(), _peer(writer))
                writer.close()
                return
            queue.put_nowait((reader, writer))

        try:
            self._server = await asyncio.start_server(arrived, self.host, self.port)
        except OSError as exc:  # EADDRINUSE, EADDRNOTAVAIL, EACCES
            raise TransportError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        self._waiting = queue
        _LOGGER.debug("listening on %s:%s", self.host, self.bound_port)
        return queue

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        queue, self._waiting = self._waiting, None
        if server is not None:
            server.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                    await server.wait_closed()
        while queue is not None and not queue.empty():
            _, writer = queue.get_nowait()
            await _close_writer(writer)
