"""MLLP framing (HL7 v2 Minimal Lower Layer Protocol): <VT> message <FS><CR>, resynchronising on noise."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from firmware_bridge.codecs.base import CodecStats

_LOGGER = logging.getLogger(__name__)

START = 0x0B  # <VT>
END = 0x1C  # <FS>; the <CR> after it is optional here (some senders omit it) and ignored between frames
CR = 0x0D

# A PCD-01 ORU with a few dozen OBX is a few kB (200 OBX are ~25 kB); waveform ORUs are larger and not
# read here. Past this a frame is not kept whole, only its head, so the sender still gets an AR: memory
# stays bounded on a line that lost its <FS>, and decoding one frame never holds the event loop ~50 ms.
MAX_FRAME = 64 * 1024
HEAD_KEPT = 4096
# Bytes between frames are kept (bounded) only so that flush() can decode a bare, unframed capture.
MAX_LOOSE = MAX_FRAME
_IGNORABLE = frozenset(b"\r\n\t \x00")


@dataclass(frozen=True, slots=True)
class Frame:
    """One message's bytes; complete is False when it was too long and only its head was kept."""

    payload: bytes
    complete: bool = True


def frame(message: bytes) -> bytes:
    """Wrap one HL7 message in MLLP start and end bytes."""
    return bytes([START]) + message + bytes([END, CR])


class MllpDeframer:
    """Feed bytes in any split; get each complete frame. Counts noise and damage in the shared stats."""

    def __init__(self, stats: CodecStats) -> None:
        self._stats = stats
        self._buf = bytearray()
        self._inside = False
        self._skipping = False  # inside an over-long frame: its head is kept, the rest dropped
        self._loose = bytearray()  # bytes seen between frames (a bare message, or noise)
        self._noise = False  # the current run of loose bytes has something besides whitespace

    def feed(self, data: bytes) -> list[Frame]:
        """Consume bytes; return the frames they complete, in order."""
        out: list[Frame] = []
        view = memoryview(data)
        pos = 0
        while pos < len(view):
            if self._inside:
                pos = self._take_frame_bytes(view, pos, out)
            else:
                pos = self._take_loose_bytes(view, pos)
        return out

    def flush(self) -> list[bytes]:
        """End of input: an unterminated frame's whole segments, or the loose bytes (a bare capture)."""
        rest: list[bytes] = []
        if self._inside:
            # The capture stopped inside a frame: its last segment may be cut mid-value ("98" -> "9"),
            # so only segments that ended are kept.
            whole = bytes(self._buf[:max(self._buf.rfind(b"\r"), self._buf.rfind(b"\n")) + 1])
            if whole.strip() and not self._skipping:
                rest.append(whole)
        elif self._loose.strip():
            rest.append(bytes(self._loose))
        self._buf.clear()
        self._loose.clear()
        self._inside = self._skipping = self._noise = False
        return rest

    def _take_loose_bytes(self, view: memoryview, pos: int) -> int:
        chunk = bytes(view[pos:])
        start = chunk.find(START)
        loose = chunk if start < 0 else chunk[:start]
        if loose:
            if not self._noise and any(b not in _IGNORABLE for b in loose):
                self._noise = True
                self._stats.resyncs += 1  # one per run of noise, however long
            room = MAX_LOOSE - len(self._loose)
            self._loose += loose[:max(room, 0)]
        if start < 0:
            return len(view)
        if self._noise:
            _LOGGER.debug("mllp: %s bytes before a frame start skipped", len(self._loose))
        self._loose.clear()
        self._noise = False
        self._inside = True
        return pos + start + 1

    def _take_frame_bytes(self, view: memoryview, pos: int, out: list[Frame]) -> int:
        chunk = bytes(view[pos:])
        end = chunk.find(END)
        restart = chunk.find(START)
        if restart >= 0 and (end < 0 or restart < end):
            # A new start before this frame ended: its end was lost; the new frame wins.
            self._stats.frames_bad += 1
            self._stats.resyncs += 1
            _LOGGER.debug("mllp: frame of %s bytes cut by a new start", len(self._buf) + restart)
            self._buf.clear()
            self._skipping = False
            return pos + restart + 1
        body = chunk if end < 0 else chunk[:end]
        self._append(body)
        if end < 0:
            return len(view)
        out.append(Frame(bytes(self._buf), complete=not self._skipping))
        self._buf.clear()
        self._inside = self._skipping = False
        return pos + end + 1

    def _append(self, body: bytes) -> None:
        if self._skipping:
            return
        self._buf += body
        if len(self._buf) > MAX_FRAME:
            _LOGGER.debug("mllp: frame over %s bytes; keeping its head only", MAX_FRAME)
            del self._buf[HEAD_KEPT:]
            self._skipping = True
