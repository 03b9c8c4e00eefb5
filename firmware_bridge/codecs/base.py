"""What every codec is: a pure, incremental bytes -> readings decoder with counters."""
from __future__ import annotations

import abc
from collections import Counter
from dataclasses import asdict, dataclass, replace
from typing import ClassVar

from firmware_bridge.plausible import clock_plausible, plausible
from firmware_bridge.protocols import ProtocolName
from firmware_bridge.reading import Reading

# The status flag of a codec whose newest frames carried a value no patient has (flags.py: INFORMATIONAL:
# that value is never emitted; the frame's other values stand on their own flags).
IMPLAUSIBLE_VALUE = ("implausible_value",)
# The flag of a reading whose device time was dropped as no real time (flags.py: INFORMATIONAL).
CLOCK_IMPLAUSIBLE = ("device_clock_implausible",)


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
    raises CodecError for misuse, so a noisy monitor can never stop its driver. `skipped` counts values
    passed over, by reason (e.g. "implausible", HL7's "unknown_code").

    Subclasses implement `_feed` (and `_flush` if a frame can end with the input): `feed`/`flush` pass
    every reading through `_screen`, the one physiological plausibility check of firmware_bridge.
    """

    protocol: ClassVar[ProtocolName]

    def __init__(self) -> None:
        self.stats = CodecStats()
        self.skipped: Counter[str] = Counter()
        self._screened: tuple[str, ...] = ()
        # Status flags of the newest good frame (e.g. ("sensor_off",)): why a frame carried no values.
        self.status = ()
        # Why the newest bad frame was refused, in words `edge-app decode` can print ("" if not said).
        self.last_error = ""

    @property
    def status(self) -> tuple[str, ...]:
        """The newest good frame's status flags, and "implausible_value" while its values included one."""
        return self._status + self._screened

    @status.setter
    def status(self, flags: tuple[str, ...]) -> None:
        self._status = tuple(flags)

    def feed(self, data: bytes) -> list[Reading]:
        """Consume bytes; return the readings of every frame completed by them."""
        return self._screen(self._feed(data), frame=False)

    def flush(self) -> list[Reading]:
        """End of input (e.g. a decoded file): return readings of a final unterminated frame, if any."""
        return self._screen(self._flush(), frame=False)

    @abc.abstractmethod
    def _feed(self, data: bytes) -> list[Reading]:
        """Decode: the readings of every frame completed by data (every codec implements this)."""

    def _flush(self) -> list[Reading]:
        """Decode what is left at the end of input; none by default."""
        return []

    def on_connect(self) -> bytes:
        """Bytes to send when a link opens (e.g. a host command selecting the data format); none by default."""
        return b""

    def take_output(self) -> bytes:
        """Bytes the protocol owes the device after the last feed (e.g. acknowledgements); drained by the call."""
        return b""

    def _skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def _screen(self, readings: list[Reading], *, frame: bool = True) -> list[Reading]:
        """A good frame's readings without the physiologically implausible ones (firmware_bridge.plausible),
        which are counted under "implausible" and make `status` say "implausible_value". A device time
        outside the plausible clock window is dropped (the reading keeps device_time None; the driver
        stamps the receive time anyway) and the reading says "device_clock_implausible".

        Each codec calls this once per good frame, where it sets that frame's status, so the flag stays
        exactly while the newest frame had such a value. feed() and flush() pass everything through it
        again (frame=False: it can only add the flag), so no codec's implausible value is ever emitted.
        """
        kept = [_clock_checked(r) for r in readings if plausible(r.metric, r.value)]
        if len(kept) != len(readings):
            self._skip("implausible", len(readings) - len(kept))
            self._screened = IMPLAUSIBLE_VALUE
        elif frame:
            self._screened = ()
        return kept


def _clock_checked(r: Reading) -> Reading:
    if r.device_time is None or clock_plausible(r.device_time):
        return r
    return replace(r, device_time=None, flags=tuple(dict.fromkeys(r.flags + CLOCK_IMPLAUSIBLE)))
