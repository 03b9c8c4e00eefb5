"""A virtual serial port: a pty pair whose reader end sits behind a stable symlink, like /dev/serial/by-id."""
from __future__ import annotations

import errno
import logging
import os
import select
import tty
from pathlib import Path
from typing import Self

_LOGGER = logging.getLogger(__name__)


class VirtualSerialPort:
    """The simulator holds the pty master; readers open `link`. unplug()/plug() act out a cable pull."""

    def __init__(self, link: Path | str) -> None:
        self.link = Path(link)
        self.slave_name: str | None = None
        self.dropped = 0  # bytes written while no one was there to take them
        self._master: int | None = None
        self.plug()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        """Make a new pty and point the link at its reader end (atomically, as udev re-creates by-id links)."""
        if self._master is not None:
            return
        if self.link.exists() and not self.link.is_symlink():
            # Only ever replace a link we could have made: never a file, let alone a real device node.
            raise FileExistsError(errno.EEXIST, "exists and is not a symlink; choose a new path", str(self.link))
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # no echo or CR/LF mangling before the reader configures the port
            name = os.ttyname(slave)
            tmp = self.link.with_name(f".{self.link.name}.new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(name)
            os.replace(tmp, self.link)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)  # only the reader holds the slave open, so closing the master hangs it up
        # A real UART with nobody listening loses bytes; a blocking pty master would instead stall the
        # simulator once the 4 kB tty buffer fills.
        os.set_blocking(master, False)
        self._master, self.slave_name = master, name
        _LOGGER.debug("plugged %s -> %s", self.link, name)

    def unplug(self) -> None:
        """Hang up the reader (close the master) and remove the link, as a pulled USB adapter does."""
        master, self._master = self._master, None
        if master is None:
            return
        os.close(master)
        self.link.unlink(missing_ok=True)
        _LOGGER.debug("unplugged %s", self.link)

    def write(self, data: bytes) -> None:
        """Send bytes to the reader; while unplugged, or if the reader is not keeping up, they are lost."""
        if self._master is None:
            self.dropped += len(data)
            return
        try:
            sent = os.write(self._master, data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: no reader has the slave open; like a cable to nowhere
                raise
            sent = 0
        self.dropped += len(data) - sent

    def read(self, size: int = 4096, timeout: float = 0.0) -> bytes:
        """What the reader sent to the "monitor" (e.g. a command or an ACK); b"" if nothing came in time."""
        if self._master is None:
            return b""
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self._master, size)
        except (BlockingIOError, OSError):  # EIO: the reader closed its end
            return b""

    def close(self) -> None:
        """Unplug for good."""
        self.unplug()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
