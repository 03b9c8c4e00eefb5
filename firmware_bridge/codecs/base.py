"""What every codec is: a pure, incremental bytes -> readings decoder with counters."""
from __future__ import annotations

import abc
from dataclasses import asdict, dataclass
from typing import ClassVar

from firmware_bridge.protocols import ProtocolName
from firmware_bridge.reading import Reading


@dataclass(slots=True)
class CodecStats:
    """Counters a technician reads to tell "no bytes" from "wrong mode" from "noisy line"."""

    bytes_in: int = 0
    frames_ok: int = 0
    frames_bad: int = 0
    resyncs: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Codec(abc.ABC):
    """Feed bytes as they arrive (any split, any garbage); get the readings of every complete frame.

    Pure: no I/O, no clock, no asyncio. Bad frames are counted in `stats`, never raised: `feed` only
    raises CodecError for misuse, so a noisy monitor can never stop its driver.
    """

    protocol: ClassVar[ProtocolName]

    def __init__(self) -> None:
        self.stats = CodecStats()
        # Status flags of the newest good frame (e.g. ("sensor_off",)): why a frame carried no values.
        self.status: tuple[str, ...] = ()
        # Why the newest bad frame was refused, in words `edge-app decode` can print ("" if not said).
        self.last_error = ""

    @abc.abstractmethod
    def feed(self, data: bytes) -> list[Reading]:
        """Consume bytes; return the readings of every frame completed by them."""

    def on_connect(self) -> bytes:
        """Bytes to send when a link opens (e.g. a host command selecting the data format); none by default."""
        return b""

    def take_output(self) -> bytes:
        """Bytes the protocol owes the device after the last feed (e.g. acknowledgements); drained by the call."""
        return b""

    def flush(self) -> list[Reading]:
        """End of input (e.g. a decoded file): return readings of a final unterminated frame, if any."""
        return []
