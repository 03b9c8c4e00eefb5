"""Blood Pressure Measurement (service 0x1810, characteristic 0x2A35, indicated) -> bp_*, pulse_rate."""
from __future__ import annotations

from typing import ClassVar

from firmware_bridge.codecs.gatt_base import Cursor, GattCodec, Values, bit_names
from firmware_bridge.metrics import Metric
from firmware_bridge.protocols import ProtocolName
from firmware_bridge.reading import Reading

BLOOD_PRESSURE_SERVICE = 0x1810
BLOOD_PRESSURE_MEASUREMENT = 0x2A35

# Flags, BLS v1.1 3.1.1.1 / GSS 3.31.
_KPA = 0x01
_TIMESTAMP = 0x02
_PULSE_RATE = 0x04
_USER_ID = 0x08
_STATUS = 0x10
# 1 kPa = 7.500616827 mmHg (1 mmHg = 133.322387415 Pa, ISO 80000-4 / BIPM conventional value).
MMHG_PER_KPA = 1000 / 133.322387415

# Measurement Status, BLS 3.1.1.5 (bits 3-4 are the pulse rate range, decoded below).
MEASUREMENT_STATUS: dict[int, str] = {
    0: "body_movement", 1: "cuff_too_loose", 2: "irregular_pulse", 5: "improper_position",
}
PULSE_RANGE = {0: None, 1: "pulse_rate_exceeds_upper_limit", 2: "pulse_rate_below_lower_limit",
               3: "pulse_rate_range_reserved"}


class GattBloodPressureCodec(GattCodec):
    """Systolic, diastolic and mean in mm[Hg] (kPa converted); pulse rate; status bits as flags."""

    protocol: ClassVar[ProtocolName] = ProtocolName.GATT_BLOOD_PRESSURE
    characteristics = (BLOOD_PRESSURE_MEASUREMENT,)

    def decode(self, uuid16: int | None, value: bytes) -> tuple[list[Reading], tuple[str, ...]]:
        """Readings of one Blood Pressure Measurement value."""
        cur = Cursor(value)
        flags = cur.uint(1)
        systolic, diastolic, mean = cur.sfloat(), cur.sfloat(), cur.sfloat()
        device_time = cur.date_time() if flags & _TIMESTAMP else None
        pulse = cur.sfloat() if flags & _PULSE_RATE else None
        if flags & _USER_ID:
            cur.take(1)  # BLS 3.1.1.4: which of the cuff's stored users; not ours to keep
        status: tuple[str, ...] = ()
        if flags & _STATUS:
            bits = cur.uint(2)
            status = bit_names(bits, MEASUREMENT_STATUS)
            if (range_flag := PULSE_RANGE[(bits >> 3) & 0x3]) is not None:
                status += (range_flag,)
        scale = MMHG_PER_KPA if flags & _KPA else 1.0
        out = Values(device_time, status)
        out.add(Metric.BP_SYSTOLIC, systolic, scale)
        out.add(Metric.BP_DIASTOLIC, diastolic, scale)
        # A cuff that does not compute the mean sends NaN there (BLS 3.1.1.2): no reading, not zero.
        out.add(Metric.BP_MEAN, mean, scale)
        if pulse is not None:
            out.add(Metric.PULSE_RATE, pulse)
        return out.readings, status + tuple(out.status)
