"""Exception families of the bridge: one per layer."""
from __future__ import annotations


class BridgeError(Exception):
    """Base of every error firmware_bridge raises on purpose."""


class CodecError(BridgeError):
    """Bytes that cannot be decoded; the only exception a codec may let escape."""


class TransportError(BridgeError):
    """The link to a monitor failed: absent, unplugged, or unreadable."""


class UnknownProtocolError(BridgeError):
    """A protocol name that no codec implements."""
