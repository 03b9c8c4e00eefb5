"""Codecs by protocol name: the registry (firmware_bridge.protocols) names each codec class; only the
module of the codec asked for is imported."""
from __future__ import annotations

from firmware_bridge.codecs.base import Codec, CodecStats
from firmware_bridge.protocols import protocol_names, resolve, spec_for

__all__ = ["Codec", "CodecStats", "codec_class", "codec_for", "implemented_protocols"]


def implemented_protocols() -> list[str]:
    """Names of the protocols this build can decode: every protocol in the registry."""
    return protocol_names()


def codec_class(protocol: str) -> type[Codec]:
    """The codec class of a protocol name; UnknownProtocolError names the ones that exist."""
    spec = spec_for(protocol)
    cls = resolve(spec.codec)
    if not (isinstance(cls, type) and issubclass(cls, Codec) and cls.protocol == spec.name):
        raise TypeError(f"registry: {spec.codec} is not the codec of {spec.name}")
    return cls


def codec_for(protocol: str, **options: object) -> Codec:
    """A fresh codec for a protocol name, with the codec's keyword options; UnknownProtocolError names the ones that exist."""
    return codec_class(protocol)(**options)
