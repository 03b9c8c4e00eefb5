"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) medical floats, as GATT health profiles send them."""
from __future__ import annotations

from enum import StrEnum

from firmware_bridge.errors import CodecError

__all__ = ["Special", "decode_float", "decode_sfloat", "encode_float", "encode_sfloat", "is_number"]


class Special(StrEnum):
    """The reserved values of IEEE 11073-20601 section 7.4.2/7.4.3: never numbers, never readings."""

    NAN = "NaN"  # not a number: the device has no valid value
    NRES = "NRes"  # not at this resolution: the value exists but cannot be represented
    POS_INF = "+INF"
    NEG_INF = "-INF"
    RESERVED = "RFU"  # reserved for future use: treat as no value

    @property
    def flag(self) -> str:
        """A status-flag word for this special value (e.g. "nan", "pos_inf")."""
        return self.name.lower()


# Exponent 0 with these mantissas (IEEE 11073-20601 Table 19, PHD IG "MDER FLOATs and SFLOATs").
_SFLOAT_SPECIAL: dict[int, Special] = {
    0x07FF: Special.NAN, 0x0800: Special.NRES, 0x07FE: Special.POS_INF,
    0x0802: Special.NEG_INF, 0x0801: Special.RESERVED,
}
_FLOAT_SPECIAL: dict[int, Special] = {
    0x007FFFFF: Special.NAN, 0x00800000: Special.NRES, 0x007FFFFE: Special.POS_INF,
    0x00800002: Special.NEG_INF, 0x00800001: Special.RESERVED,
}


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _scaled(mantissa: int, exponent: int) -> float:
    # Decimal scaling by division for negative exponents keeps 37.6 exact where 376 * 0.1 is not.
    return float(mantissa * 10 ** exponent) if exponent >= 0 else mantissa / 10 ** -exponent


def decode_sfloat(data: bytes) -> float | Special:
    """Two little-endian bytes: 4-bit signed exponent, 12-bit signed mantissa; or a Special."""
    if len(data) != 2:
        raise CodecError(f"SFLOAT needs 2 bytes, got {len(data)}")
    raw = int.from_bytes(data, "little")
    if raw in _SFLOAT_SPECIAL:
        return _SFLOAT_SPECIAL[raw]
    return _scaled(_signed(raw & 0x0FFF, 12), _signed(raw >> 12, 4))


def decode_float(data: bytes) -> float | Special:
    """Four little-endian bytes: 8-bit signed exponent, 24-bit signed mantissa; or a Special."""
    if len(data) != 4:
        raise CodecError(f"FLOAT needs 4 bytes, got {len(data)}")
    raw = int.from_bytes(data, "little")
    if raw in _FLOAT_SPECIAL:
        return _FLOAT_SPECIAL[raw]
    return _scaled(_signed(raw & 0xFFFFFF, 24), _signed(raw >> 24, 8))


def is_number(value: float | Special) -> bool:
    """Whether a decoded value is a real number (not one of the specials)."""
    return not isinstance(value, Special)


def encode_sfloat(mantissa: int | Special, exponent: int = 0) -> bytes:
    """The SFLOAT of mantissa * 10**exponent (or of a Special), for simulators and tests."""
    if isinstance(mantissa, Special):
        return next(raw for raw, s in _SFLOAT_SPECIAL.items() if s is mantissa).to_bytes(2, "little")
    if not (-2048 <= mantissa <= 2047 and -8 <= exponent <= 7):
        raise CodecError(f"SFLOAT cannot hold {mantissa}e{exponent}")
    raw = ((exponent & 0xF) << 12) | (mantissa & 0x0FFF)
    if raw in _SFLOAT_SPECIAL:
        raise CodecError(f"{mantissa}e{exponent} is the SFLOAT of {_SFLOAT_SPECIAL[raw]}")
    return raw.to_bytes(2, "little")


def encode_float(mantissa: int | Special, exponent: int = 0) -> bytes:
    """The FLOAT of mantissa * 10**exponent (or of a Special), for simulators and tests."""
    if isinstance(mantissa, Special):
        return next(raw for raw, s in _FLOAT_SPECIAL.items() if s is mantissa).to_bytes(4, "little")
    if not (-(1 << 23) <= mantissa < (1 << 23) and -128 <= exponent <= 127):
        raise CodecError(f"FLOAT cannot hold {mantissa}e{exponent}")
    raw = ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)
    if raw in _FLOAT_SPECIAL:
        raise CodecError(f"{mantissa}e{exponent} is the FLOAT of {_FLOAT_SPECIAL[raw]}")
    return raw.to_bytes(4, "little")
