"""What every transport is: an async byte pipe to one monitor that fails loudly with TransportError."""
from __future__ import annotations

import abc

from firmware_bridge.errors import TransportError

__all__ = ["PortAbsentError", "Transport", "TransportError"]


class PortAbsentError(TransportError):
    """The port is not there at all (unplugged USB adapter, no pty yet): wait for it, nothing is broken."""


class Transport(abc.ABC):
    """Moves bytes and nothing else: no framing, no decoding, no retries (the driver owns those)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Open the link; PortAbsentError if the port does not exist, TransportError if it cannot be opened."""

    @abc.abstractmethod
    async def read(self) -> bytes:
        """Wait for at least one byte; TransportError on loss, hang-up or end of input."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Send bytes to the monitor (e.g. a command); TransportError if the link is gone."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the link; safe to call twice or on a transport that never opened."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line naming the link for status and logs, e.g. "/dev/ttyUSB0 9600 8N1"."""

    @property
    def is_open(self) -> bool:
        """Whether open() succeeded and close() has not been called since."""
        return False
