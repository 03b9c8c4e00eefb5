"""`edge-app decode PROTOCOL (--hex|--text|--file)`: one JSON object per reading per line."""
from __future__ import annotations

import codecs
import json
import sys

from firmware_bridge.codecs import Codec, codec_class, codec_for
from firmware_bridge.codecs.gatt_base import MAX_VALUE, GattCodec, frame, uuid16_of
from firmware_bridge.errors import BridgeError

from edge_app.errors import EdgeAppError

MAX_INPUT = 64 * 1024 * 1024


def _input_bytes(hex_: str | None, text: str | None, file: str | None) -> bytes:
    if hex_ is not None:
        cleaned = "".join(hex_.split()).removeprefix("0x")
        try:
            return bytes.fromhex(cleaned)
        except ValueError:
            raise EdgeAppError("--hex: not hexadecimal bytes (pairs of 0-9a-f)") from None
    if text is not None:
        try:
            # Let a shell user write "\r\n" literally.
            return codecs.decode(text.encode("utf-8"), "unicode_escape").encode("latin-1")
        except (UnicodeDecodeError, UnicodeEncodeError):
            return text.encode("utf-8")
    assert file is not None
    try:
        if file == "-":
            return sys.stdin.buffer.read(MAX_INPUT)
        with open(file, "rb") as f:
            return f.read(MAX_INPUT)
    except OSError as exc:
        raise EdgeAppError(f"--file: {file}: {exc.strerror or exc}") from None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _gatt_codec(protocol: str, uuid: str, value: bytes) -> tuple[Codec, bytes]:
    """A framed GATT codec and the value framed as sent by characteristic `uuid` (what BleTransport does)."""
    cls = codec_class(protocol)
    if not issubclass(cls, GattCodec):
        raise EdgeAppError(f"--uuid: {protocol} is not a Bluetooth GATT protocol")
    try:
        uuid16 = uuid16_of(uuid)
    except ValueError:
        raise EdgeAppError(f"--uuid {uuid}: not a Bluetooth UUID (e.g. 2a5e)") from None
    if uuid16 not in cls.characteristics:
        raise EdgeAppError(f"--uuid {uuid}: {protocol} reads {', '.join(f'{c:04x}' for c in cls.characteristics)}")
    if len(value) > MAX_VALUE:
        raise EdgeAppError(f"a characteristic value is at most {MAX_VALUE} bytes, got {len(value)}")
    return codec_for(protocol, framed=True), frame(uuid16, value)


def decode_command(protocol: str, *, hex_: str | None, text: str | None, file: str | None,
                   uuid: str | None = None) -> int:
    """Decode and print; exit 2 with one reason on stderr when nothing in the input is a valid frame.

    uuid (GATT protocols): the characteristic the value came from, for a value whose layout only that tells.
    """
    try:
        codec = codec_for(protocol)
    except BridgeError as exc:
        raise EdgeAppError(str(exc)) from None
    data = _input_bytes(hex_, text, file)
    if not data:
        raise EdgeAppError("input is empty")
    size = len(data)
    if uuid is not None:
        codec, data = _gatt_codec(protocol, uuid, data)
    try:
        readings = codec.feed(data) + codec.flush()
    except BridgeError as exc:
        raise EdgeAppError(f"cannot decode: {exc}") from None
    stats = codec.stats
    if stats.frames_ok == 0:
        why = _count(stats.frames_bad, "bad frame") if stats.frames_bad else "no complete frame"
        if stats.frames_bad and codec.last_error:
            why += f": {codec.last_error}"
        raise EdgeAppError(f"no valid {protocol} frame in {size} bytes ({why})")
    out = sys.stdout
    for r in readings:
        out.write(json.dumps(r.as_dict()) + "\n")
    if stats.frames_bad:
        print(f"edge-app: note: {_count(stats.frames_bad, 'bad frame')} skipped", file=sys.stderr)
    if codec.status and not readings:
        print(f"edge-app: note: no values; device status: {', '.join(codec.status)}", file=sys.stderr)
    return 0
