"""Heart Rate Measurement (service 0x180D, characteristic 0x2A37) -> heart_rate, energy_expended, rr_interval."""
from __future__ import annotations

from typing import ClassVar

from firmware_bridge.codecs.gatt_base import BadValue, Cursor, GattCodec, Values
from firmware_bridge.metrics import Metric
from firmware_bridge.protocols import ProtocolName
from firmware_bridge.reading import Reading

HEART_RATE_SERVICE = 0x180D
HEART_RATE_MEASUREMENT = 0x2A37

# Flags octet, GATT Specification Supplement 3.113 (Heart Rate Measurement) / HRS v1.0 3.1.1.
_UINT16 = 0x01
_CONTACT_DETECTED = 0x02
_CONTACT_SUPPORTED = 0x04
_ENERGY = 0x08
_RR = 0x10


class GattHeartRateCodec(GattCodec):
    """8- or 16-bit heart rate; sensor contact as a flag; energy in kJ; each RR interval in seconds."""

    protocol: ClassVar[ProtocolName] = ProtocolName.GATT_HEART_RATE
    characteristics = (HEART_RATE_MEASUREMENT,)

    def decode(self, uuid16: int | None, value: bytes) -> tuple[list[Reading], tuple[str, ...]]:
        """Readings of one Heart Rate Measurement value."""
        cur = Cursor(value)
        flags = cur.uint(1)
        bpm = cur.uint(2 if flags & _UINT16 else 1)
        status: tuple[str, ...] = ()
        if flags & _CONTACT_SUPPORTED:
            # HRS 3.1.1.2: contact supported but not detected means the strap is off the skin; the rate
            # it still sends is not the patient's, so it is flagged (and shown as such), never dropped silently.
            status = ("sensor_contact",) if flags & _CONTACT_DETECTED else ("no_sensor_contact",)
        out = Values(flags=status)
        out.add(Metric.HEART_RATE, bpm)
        if flags & _ENERGY:
            # Cumulative since the last reset, in kJ; 0xFFFF means it has saturated (HRS 3.1.1.3).
            energy = cur.uint(2)
            if energy != 0xFFFF:
                out.add(Metric.ENERGY_EXPENDED, energy)
            else:
                out.status.append("energy_expended_saturated")
        if flags & _RR:
            # HRS 1.0 3.1.1 (flags bit 4): "one or more RR-Interval values are present"; a value whose flags
            # promise them and then ends is damaged, so none of its numbers is trusted.
            if not cur.remaining:
                raise BadValue("flags say RR-intervals follow, but the value ends")
            if cur.remaining % 2:
                raise BadValue("RR intervals are 16-bit; an odd byte is left")
            while cur.remaining:
                # HRS 3.1.1.4: resolution 1/1024 s; oldest first.
                out.add(Metric.RR_INTERVAL, cur.uint(2), scale=1 / 1024)
        return out.readings, status + tuple(out.status)
