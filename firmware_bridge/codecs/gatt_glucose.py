"""Glucose Measurement (service 0x1808, characteristic 0x2A18) -> glucose in mmol/L."""
from __future__ import annotations

from typing import ClassVar

from firmware_bridge.codecs.gatt_base import Cursor, GattCodec, Values, bit_names, frame
from firmware_bridge.metrics import Metric
from firmware_bridge.protocols import ProtocolName
from firmware_bridge.reading import Reading

GLUCOSE_SERVICE = 0x1808
GLUCOSE_MEASUREMENT = 0x2A18
GLUCOSE_CONTEXT = 0x2A34
RECORD_ACCESS_CONTROL_POINT = 0x2A52
# RACP (GLS v1.0 3.3.1, GSS 3.180): op code 0x01 "Report stored records", operator 0x06 "Last record".
# A meter sends measurements only when asked; the newest one is the one taken at the patient's side.
RACP_REPORT_LAST = bytes((0x01, 0x06))

# Flags, GLS v1.0 3.1.1.1 / GSS 3.103.
_TIME_OFFSET = 0x01
_CONCENTRATION = 0x02
_MOL_PER_L = 0x04
_SENSOR_STATUS = 0x08
_CONTEXT_FOLLOWS = 0x10

# kg/L -> mg/dL is x 100 000 (1 kg/L = 10^6 mg per 10 dL); mg/dL -> mmol/L divides by 18.016, which is
# glucose's molar mass 180.16 g/mol over 10 (dL per L): the factor in Nordic's glucose sample app, the
# IFCC/IUPAC conversion tables, and Wikipedia "Blood sugar level" (18.016 mg/dL per mmol/L).
MG_PER_DL_PER_KG_PER_L = 100_000
MG_PER_DL_PER_MMOL_PER_L = 18.016
MMOL_PER_L_PER_KG_PER_L = MG_PER_DL_PER_KG_PER_L / MG_PER_DL_PER_MMOL_PER_L
MMOL_PER_L_PER_MOL_PER_L = 1000

# Type (low nibble) and Sample Location (high nibble), GLS 3.1.1.6 / GSS 3.103.
SAMPLE_TYPE: dict[int, str] = {
    1: "capillary_whole_blood", 2: "capillary_plasma", 3: "venous_whole_blood", 4: "venous_plasma",
    5: "arterial_whole_blood", 6: "arterial_plasma", 7: "undetermined_whole_blood", 8: "undetermined_plasma",
    9: "interstitial_fluid", 10: "control_solution",
}
SAMPLE_LOCATION: dict[int, str] = {1: "finger", 2: "alternate_site_test", 3: "earlobe", 4: "control_solution"}
# Sensor Status Annunciation, GLS 3.1.1.7 (bits 12-15 RFU).
SENSOR_STATUS: dict[int, str] = {
    0: "battery_low", 1: "sensor_malfunction", 2: "sample_size_insufficient", 3: "strip_insertion_error",
    4: "strip_type_incorrect", 5: "result_too_high", 6: "result_too_low", 7: "sensor_temp_too_high",
    8: "sensor_temp_too_low", 9: "sensor_read_interrupted", 10: "general_device_fault", 11: "time_fault",
}
# A meter's own verdict that the number is not a measurement (GLS 3.1.1.7): status kept, no reading.
NOT_A_READING = {"sensor_malfunction", "sample_size_insufficient", "strip_insertion_error", "strip_type_incorrect",
                 "result_too_high", "result_too_low", "sensor_read_interrupted", "general_device_fault"}


class GattGlucoseCodec(GattCodec):
    """Glucose in mmol/L with base time + offset as device_time; type, location and sensor status as flags.

    Control-solution tests are the meter's own check, not the patient: they give status, no reading.
    """

    protocol: ClassVar[ProtocolName] = ProtocolName.GATT_GLUCOSE
    characteristics = (GLUCOSE_MEASUREMENT,)

    def on_connect(self) -> bytes:
        """Framed: ask the meter for its newest stored record through the RACP; unframed: nothing."""
        return frame(RECORD_ACCESS_CONTROL_POINT, RACP_REPORT_LAST) if self.framed else b""

    def decode(self, uuid16: int | None, value: bytes) -> tuple[list[Reading], tuple[str, ...]]:
        """Readings of one Glucose Measurement value."""
        cur = Cursor(value)
        flags = cur.uint(1)
        cur.uint(2)  # sequence number: the meter's record id, used by RACP, not a clinical value
        device_time = cur.date_time()
        if flags & _TIME_OFFSET:
            offset_min = cur.sint(2)
            if device_time is not None:
                device_time += offset_min * 60_000  # GLS 3.1.1.3: user-facing time = base time + offset
        status: tuple[str, ...] = ()
        concentration = None
        if flags & _CONCENTRATION:
            concentration = cur.sfloat()
            type_location = cur.uint(1)
            kind, where = type_location & 0x0F, type_location >> 4
            status += (f"sample_{SAMPLE_TYPE.get(kind, 'type_reserved')}",)
            if where != 0x0F:  # 0xF: location not available
                status += (f"location_{SAMPLE_LOCATION.get(where, 'reserved')}",)
        if flags & _SENSOR_STATUS:
            status += bit_names(cur.uint(2), SENSOR_STATUS)
        if flags & _CONTEXT_FOLLOWS:
            status += ("context_follows",)  # a Glucose Measurement Context (0x2A34) with this sequence number
        if concentration is None or "sample_control_solution" in status or "location_control_solution" in status \
                or NOT_A_READING & set(status):
            return [], status
        scale = MMOL_PER_L_PER_MOL_PER_L if flags & _MOL_PER_L else MMOL_PER_L_PER_KG_PER_L
        out = Values(device_time, status)
        out.add(Metric.GLUCOSE, concentration, scale)
        return out.readings, status + tuple(out.status)
