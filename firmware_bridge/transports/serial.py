"""A serial port (any pyserial URL) as an async Transport that never blocks the event loop."""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading

import serial  # type: ignore[import-untyped]  # pyserial ships no stubs

from firmware_bridge.errors import TransportError
from firmware_bridge.transports.base import PortAbsentError, Transport

_LOGGER = logging.getLogger(__name__)

_READ_SIZE = 4096
# URL ports (socket://, rfc2217://) are read in a worker thread; a short timeout keeps close() prompt.
_URL_READ_TIMEOUT_S = 0.1
# ENOENT: the path is gone; ENODEV/ENXIO: a USB adapter unplugged between the check and the open.
_ABSENT_ERRNOS = {errno.ENOENT, errno.ENODEV, errno.ENXIO}


def port_present(url: str) -> bool:
    """Whether the port exists: the path (or its symlink's target) is there; non-path URLs count as present."""
    if "://" in url:
        return True
    return os.path.exists(url)


def _reason(exc: BaseException) -> str:
    """One line from an OS or pyserial error (pyserial repeats the errno text inside its message)."""
    err = getattr(exc, "errno", None)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(err, int) and err and not isinstance(exc, serial.SerialException):
        return os.strerror(err)
    return text


class SerialTransport(Transport):
    """pyserial underneath; tty ports are read with loop.add_reader, URL ports in a worker thread."""

    def __init__(self, url: str, baudrate: int = 9600, bytesize: int = 8, parity: str = "N",
                 stopbits: float = 1) -> None:
        self.url = url
        self.baudrate = baudrate
        self.bytesize = bytesize
        self.parity = parity
        self.stopbits = stopbits
        self._ser: serial.SerialBase | None = None
        self._fd: int | None = None
        self._waiter: asyncio.Future[None] | None = None
        # Serialises worker-thread reads, writes and close on URL ports (pyserial objects are not thread safe).
        self._io_lock = threading.Lock()

    def describe(self) -> str:
        """e.g. "/dev/ttyUSB0 9600 8N1"."""
        stop = int(self.stopbits) if float(self.stopbits).is_integer() else self.stopbits
        return f"{self.url} {self.baudrate} {self.bytesize}{self.parity}{stop}"

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    async def open(self) -> None:
        """Open the port in a worker thread (a tty open can block on the driver)."""
        if self._ser is not None:
            return
        if not self.url:
            raise TransportError("no port configured")
        if not port_present(self.url):
            raise PortAbsentError(f"{self.url}: not present")
        try:
            ser = await self._open_in_thread()
        except (serial.SerialException, OSError) as exc:
            if getattr(exc, "errno", None) in _ABSENT_ERRNOS:
                raise PortAbsentError(f"{self.url}: not present") from exc
            raise TransportError(f"cannot open {self.url}: {_reason(exc)}") from exc
        except ValueError as exc:  # a malformed URL or an unsupported setting
            raise TransportError(f"cannot open {self.url}: {exc}") from exc
        self._ser = ser
        if isinstance(ser, serial.Serial) and os.name == "posix":
            self._fd = ser.fileno()
            os.set_blocking(self._fd, False)
        _LOGGER.debug("opened %s (%s)", self.describe(), "fd" if self._fd is not None else "thread")

    async def _open_in_thread(self) -> serial.SerialBase:
        # If we are cancelled while the thread is still opening, the port it opens must not stay open
        # (and exclusively locked) until garbage collection.
        lock = threading.Lock()
        handoff: dict[str, object] = {}

        def work() -> serial.SerialBase:
            ser = self._open_blocking()
            with lock:
                if handoff.get("abandoned"):
                    ser.close()
                else:
                    handoff["ser"] = ser
            return ser

        try:
            return await asyncio.get_running_loop().run_in_executor(None, work)
        except asyncio.CancelledError:
            with lock:
                handoff["abandoned"] = True
                orphan = handoff.pop("ser", None)
            if isinstance(orphan, serial.SerialBase):
                orphan.close()
            raise

    def _open_blocking(self) -> serial.SerialBase:
        kwargs: dict[str, object] = {"baudrate": self.baudrate, "bytesize": self.bytesize, "parity": self.parity,
                                     "stopbits": self.stopbits, "timeout": _URL_READ_TIMEOUT_S}
        if "://" not in self.url:
            # A second reader on the same tty would steal half of every line: refuse to share.
            kwargs["exclusive"] = True
        return serial.serial_for_url(self.url, **kwargs)

    def _require_open(self) -> serial.SerialBase:
        if self._ser is None:
            raise TransportError(f"{self.url}: not open")
        return self._ser

    async def read(self) -> bytes:
        """Wait for at least one byte; TransportError on hang-up, unplug or end of input."""
        ser = self._require_open()
        if self._fd is not None:
            return await self._read_fd(self._fd)
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.run_in_executor(None, self._read_blocking, ser)
            if data:
                return data
            self._require_open()

    async def _read_fd(self, fd: int) -> bytes:
        loop = asyncio.get_running_loop()
        woken = False
        while True:
            try:
                data: bytes | None = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                data = None
            except OSError as exc:  # EIO: pty master closed; ENODEV: USB adapter pulled
                raise TransportError(f"{self.url}: read failed: {_reason(exc)}") from exc
            if data:
                return data
            # pyserial leaves VMIN=0, so an idle port also reads b"": only b"" after a readiness wake-up
            # means end of file (the other side hung up).
            if data == b"" and woken:
                raise TransportError(f"{self.url}: hang-up (device disconnected)")
            await self._wait_readable(loop, fd)
            woken = True

    async def _wait_readable(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        waiter: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not waiter.done():
                waiter.set_result(None)

        self._waiter = waiter
        loop.add_reader(fd, ready)
        try:
            await waiter
        finally:
            self._waiter = None
            if self._fd == fd:
                loop.remove_reader(fd)

    def _read_blocking(self, ser: serial.SerialBase) -> bytes:
        with self._io_lock:
            if not ser.is_open:
                raise TransportError(f"{self.url}: closed")
            try:
                data = ser.read(1)
                if data and (more := ser.in_waiting):
                    data += ser.read(more)
            except (serial.SerialException, OSError) as exc:  # socket:// EOF: "socket disconnected"
                raise TransportError(f"{self.url}: read failed: {_reason(exc)}") from exc
            return bytes(data)

    async def write(self, data: bytes) -> None:
        """Write all of data in a worker thread (a full tty buffer would otherwise stall the loop)."""
        ser = self._require_open()
        await asyncio.get_running_loop().run_in_executor(None, self._write_blocking, ser, data)

    def _write_blocking(self, ser: serial.SerialBase, data: bytes) -> None:
        with self._io_lock:
            try:
                ser.write(data)
                ser.flush()
            except (serial.SerialException, OSError) as exc:
                raise TransportError(f"{self.url}: write failed: {_reason(exc)}") from exc

    async def close(self) -> None:
        """Close the port; a read waiting on it fails with TransportError. Idempotent."""
        ser, self._ser = self._ser, None
        if ser is None:
            return
        fd, self._fd = self._fd, None
        loop = asyncio.get_running_loop()
        if fd is not None:
            loop.remove_reader(fd)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TransportError(f"{self.url}: closed"))
        await loop.run_in_executor(None, self._close_blocking, ser)
        _LOGGER.debug("closed %s", self.url)

    def _close_blocking(self, ser: serial.SerialBase) -> None:
        with self._io_lock:
            try:
                ser.close()
            except (serial.SerialException, OSError) as exc:  # closing a hung-up port can fail; it is closed
                _LOGGER.debug("closing %s: %s", self.url, exc)
