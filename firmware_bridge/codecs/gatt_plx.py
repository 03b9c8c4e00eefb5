"""Pulse Oximeter (service 0x1822): PLX Spot-check 0x2A5E and PLX Continuous 0x2A5F -> spo2, pulse_rate."""
from __future__ import annotations

from typing import ClassVar

from firmware_bridge.codecs.gatt_base import BadValue, Cursor, GattCodec, Values, bit_names
from firmware_bridge.metrics import Metric
from firmware_bridge.protocols import ProtocolName
from firmware_bridge.reading import Reading

PLX_SERVICE = 0x1822
PLX_SPOT_CHECK = 0x2A5E
PLX_CONTINUOUS = 0x2A5F

# Spot-check flags, PLXS v1.0.1 3.1.1.1 / GSS 3.172.
_SPOT_TIMESTAMP = 0x01
_SPOT_MEAS_STATUS = 0x02
_SPOT_DEVICE_STATUS = 0x04
_SPOT_PAI = 0x08
_SPOT_CLOCK_NOT_SET = 0x10
# Continuous flags, PLXS v1.0.1 3.2.1.1 / GSS 3.171.
_CONT_FAST = 0x01
_CONT_SLOW = 0x02
_CONT_MEAS_STATUS = 0x04
_CONT_DEVICE_STATUS = 0x08
_CONT_PAI = 0x10

# Measurement Status, PLXS 3.1.1.4 (bits 0-4 RFU).
MEASUREMENT_STATUS: dict[int, str] = {
    5: "measurement_ongoing", 6: "early_estimated_data", 7: "validated_data", 8: "fully_qualified_data",
    9: "data_from_storage", 10: "data_for_demonstration", 11: "data_for_testing", 12: "calibration_ongoing",
    13: "measurement_unavailable", 14: "questionable_measurement", 15: "invalid_measurement",
}
# Device and Sensor Status, PLXS 3.1.1.5 (24 bits; 16-23 RFU).
DEVICE_SENSOR_STATUS: dict[int, str] = {
    0: "extended_display_update_ongoing", 1: "equipment_malfunction", 2: "signal_processing_irregularity",
    3: "inadequate_signal", 4: "poor_signal", 5: "low_perfusion", 6: "erratic_signal",
    7: "nonpulsatile_signal", 8: "questionable_pulse", 9: "signal_analysis_ongoing", 10: "sensor_interference",
    11: "sensor_unconnected_to_user", 12: "unknown_sensor_connected", 13: "sensor_displaced",
    14: "sensor_malfunctioning", 15: "sensor_disconnected",
}
# A value so marked is not the patient's now: keep the status, print no reading.
NOT_A_READING = {"measurement_unavailable", "invalid_measurement", "data_for_demonstration", "data_for_testing"}


def spot_check_size(flags: int) -> int:
    """The length of a spot-check value with these flags."""
    return (5 + 7 * bool(flags & _SPOT_TIMESTAMP) + 2 * bool(flags & _SPOT_MEAS_STATUS)
            + 3 * bool(flags & _SPOT_DEVICE_STATUS) + 2 * bool(flags & _SPOT_PAI))


def continuous_size(flags: int) -> int:
    """The length of a continuous value with these flags."""
    return (5 + 4 * bool(flags & _CONT_FAST) + 4 * bool(flags & _CONT_SLOW) + 2 * bool(flags & _CONT_MEAS_STATUS)
            + 3 * bool(flags & _CONT_DEVICE_STATUS) + 2 * bool(flags & _CONT_PAI))


class GattPlxCodec(GattCodec):
    """Normal SpO2 and pulse rate of either characteristic; statuses become flags; PAI -> perfusion_index."""

    protocol: ClassVar[ProtocolName] = ProtocolName.GATT_PLX
    characteristics = (PLX_SPOT_CHECK, PLX_CONTINUOUS)

    def decode(self, uuid16: int | None, value: bytes) -> tuple[list[Reading], tuple[str, ...]]:
        """Readings of one spot-check or continuous value (unframed: told apart by length)."""
        if not value:
            raise BadValue("empty")
        if uuid16 is None:
            return self._unframed(value)
        if uuid16 == PLX_SPOT_CHECK:
            return self._spot_check(value)
        return self._continuous(value)

    def _unframed(self, value: bytes) -> tuple[list[Reading], tuple[str, ...]]:
        # Both layouts are flags-driven (PLXS 3.1.1.1, 3.2.1.1) and only the characteristic says which one a
        # value has; its length tells them apart for most flag sets. Where both fit, they agree only when
        # the flags name no optional field (0x00: SpO2 and PR alone); otherwise (0x0B, 0x0C, 0x17, 0x19, ...)
        # a spot-check read as continuous loses its time and PAI and gains status bits it never had.
        flags = value[0]
        spot, continuous = len(value) == spot_check_size(flags), len(value) == continuous_size(flags)
        if spot and continuous:
            as_spot, as_continuous = self._spot_check(value), self._continuous(value)
            if as_spot != as_continuous:
                raise BadValue(f"flags {flags:#04x}: {len(value)} bytes fit both the spot-check and the "
                               "continuous PLX layout, which read differently; pass --uuid 2a5e or 2a5f "
                               "(2a5e: spot-check, 2a5f: continuous)")
            return as_spot
        if continuous:
            return self._continuous(value)
        if spot:
            return self._spot_check(value)
        raise BadValue(f"{len(value)} bytes fit neither PLX layout for flags {flags:#04x}")

    def _spot_check(self, value: bytes) -> tuple[list[Reading], tuple[str, ...]]:
        cur = Cursor(value)
        flags = cur.uint(1)
        spo2, pr = cur.sfloat(), cur.sfloat()
        device_time = cur.date_time() if flags & _SPOT_TIMESTAMP else None
        status: tuple[str, ...] = ()
        if flags & _SPOT_CLOCK_NOT_SET:
            device_time = None  # PLXS 3.1.1.3: the timestamp is not a real time
            status += ("device_clock_not_set",)
        if flags & _SPOT_MEAS_STATUS:
            status += bit_names(cur.uint(2), MEASUREMENT_STATUS)
        if flags & _SPOT_DEVICE_STATUS:
            status += bit_names(cur.uint(3), DEVICE_SENSOR_STATUS)
        pai = cur.sfloat() if flags & _SPOT_PAI else None
        return self._readings(spo2, pr, pai, device_time, status)

    def _continuous(self, value: bytes) -> tuple[list[Reading], tuple[str, ...]]:
        cur = Cursor(value)
        flags = cur.uint(1)
        spo2, pr = cur.sfloat(), cur.sfloat()
        # Fast and slow responding pairs are other averagings of the same signal: the normal pair is the
        # one clinicians read (PLXS 3.2.1.2-3.2.1.4), so they are skipped.
        if flags & _CONT_FAST:
            cur.take(4)
        if flags & _CONT_SLOW:
            cur.take(4)
        status: tuple[str, ...] = ()
        if flags & _CONT_MEAS_STATUS:
            status += bit_names(cur.uint(2), MEASUREMENT_STATUS)
        if flags & _CONT_DEVICE_STATUS:
            status += bit_names(cur.uint(3), DEVICE_SENSOR_STATUS)
        pai = cur.sfloat() if flags & _CONT_PAI else None
        return self._readings(spo2, pr, pai, None, status)

    @staticmethod
    def _readings(spo2: object, pr: object, pai: object, device_time: int | None,
                  status: tuple[str, ...]) -> tuple[list[Reading], tuple[str, ...]]:
        if NOT_A_READING & set(status):
            return [], status
        out = Values(device_time, status)
        out.add(Metric.SPO2, spo2)  # type: ignore[arg-type]
        out.add(Metric.PULSE_RATE, pr)  # type: ignore[arg-type]
        if pai is not None:
            out.add(Metric.PERFUSION_INDEX, pai)  # type: ignore[arg-type]
        return out.readings, status + tuple(out.status)
