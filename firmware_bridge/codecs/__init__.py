"""Codec registry: protocol name -> codec class."""
from __future__ import annotations

from firmware_bridge.codecs.base import Codec, CodecStats
from firmware_bridge.errors import UnknownProtocolError
from firmware_bridge.protocols import ProtocolName

__all__ = ["Codec", "CodecStats", "codec_for", "implemented_protocols"]


def _registry() -> dict[ProtocolName, type[Codec]]:
    from firmware_bridge.codecs.gatt_blood_pressure import GattBloodPressureCodec
    from firmware_bridge.codecs.gatt_glucose import GattGlucoseCodec
    from firmware_bridge.codecs.gatt_heart_rate import GattHeartRateCodec
    from firmware_bridge.codecs.gatt_plx import GattPlxCodec
    from firmware_bridge.codecs.gatt_temperature import GattTemperatureCodec
    from firmware_bridge.codecs.hl7_oru import Hl7OruCodec
    from firmware_bridge.codecs.masimo_ascii import MasimoAsciiCodec
    from firmware_bridge.codecs.nonin import NoninDf2Codec, NoninDf7Codec, NoninDf8Codec, NoninDf13Codec

    return {c.protocol: c for c in (MasimoAsciiCodec, NoninDf2Codec, NoninDf7Codec, NoninDf8Codec, NoninDf13Codec,
                                    Hl7OruCodec, GattHeartRateCodec, GattPlxCodec, GattBloodPressureCodec,
                                    GattTemperatureCodec, GattGlucoseCodec)}


def implemented_protocols() -> list[str]:
    """Names of the protocols this build can decode."""
    return sorted(str(p) for p in _registry())


def codec_for(protocol: str, **options: object) -> Codec:
    """A fresh codec for a protocol name, with the codec's keyword options; UnknownProtocolError names the ones that exist."""
    try:
        cls = _registry()[ProtocolName(protocol)]
    except (ValueError, KeyError):
        raise UnknownProtocolError(
            f"unknown protocol {protocol!r}; implemented: {', '.join(implemented_protocols())}"
        ) from None
    return cls(**options)
