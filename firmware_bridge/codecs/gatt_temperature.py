"""Temperature Measurement (service 0x1809, characteristic 0x2A1C, indicated) -> temperature in Cel."""
from __future__ import annotations

from typing import ClassVar

from firmware_bridge.codecs.gatt_base import Cursor, GattCodec, Values
from firmware_bridge.metrics import Metric
from firmware_bridge.protocols import ProtocolName
from firmware_bridge.reading import Reading

HEALTH_THERMOMETER_SERVICE = 0x1809
TEMPERATURE_MEASUREMENT = 0x2A1C
INTERMEDIATE_TEMPERATURE = 0x2A1E

# Flags, HTS v1.0 3.1.1.1 / GSS 3.229.
_FAHRENHEIT = 0x01
_TIMESTAMP = 0x02
_TYPE = 0x04
# Temperature Type, GSS 3.230 (0x2A1D); the measurement site, kept as a flag.
TEMPERATURE_TYPE: dict[int, str] = {
    1: "site_armpit", 2: "site_body", 3: "site_ear", 4: "site_finger", 5: "site_gastrointestinal",
    6: "site_mouth", 7: "site_rectum", 8: "site_toe", 9: "site_tympanum",
}


class GattTemperatureCodec(GattCodec):
    """Temperature in Cel (Fahrenheit converted), the device timestamp, the site as a flag."""

    protocol: ClassVar[ProtocolName] = ProtocolName.GATT_TEMPERATURE
    # Intermediate Temperature (HTS 3.3) has the same layout but is a reading still settling: not decoded.
    characteristics = (TEMPERATURE_MEASUREMENT,)

    def decode(self, uuid16: int | None, value: bytes) -> tuple[list[Reading], tuple[str, ...]]:
        """Readings of one Temperature Measurement value."""
        cur = Cursor(value)
        flags = cur.uint(1)
        temperature = cur.float32()
        device_time = cur.date_time() if flags & _TIMESTAMP else None
        status: tuple[str, ...] = ()
        if flags & _TYPE:
            kind = cur.uint(1)
            status = (TEMPERATURE_TYPE.get(kind, "site_reserved"),)
        out = Values(device_time, status)
        if flags & _FAHRENHEIT:
            out.add(Metric.TEMPERATURE, temperature, scale=5 / 9, offset=-32 * 5 / 9)
        else:
            out.add(Metric.TEMPERATURE, temperature)
        return out.readings, status + tuple(out.status)
