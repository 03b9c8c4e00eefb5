"""Real Nonin frames (data formats 2, 7, 8 and 13) from a simulated patient, with the occasional sensor-off spell.

Layouts follow firmware_bridge/codecs/nonin_frames.py, which names the source of every field. One call of
next_frame is one second of the device: 3 packets of 25 frames (formats 2 and 7), one frame (format 8) or
one spot-check record (format 13), so the runner's rate of 1 Hz is real time, as for the Masimo simulator.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import ClassVar

from firmware_bridge.codecs.nonin_frames import (
    DF2_START,
    DF13_ETX,
    DF13_HEADER,
    E_HR_D_LSB,
    E_HR_D_MSB,
    E_HR_LSB,
    E_HR_MSB,
    E_SPO2,
    E_SPO2_D,
    HR_D_LSB,
    HR_D_MSB,
    HR_LSB,
    HR_MSB,
    MISSING_HR,
    MISSING_SPO2,
    PACKET_FRAMES,
    REV,
    SPO2,
    SPO2_BB,
    SPO2_D,
    SPO2_FAST,
    STATUS_HIGH,
    STATUS_SYNC,
    TMR_LSB,
    TMR_MSB,
    checksum,
)
from firmware_bridge.simulate.masimo import SENSOR_OFF_RUN, SENSOR_OFF_START_P
from firmware_bridge.simulate.patient import PatientModel, Vitals

PACKETS_PER_SECOND = 3
FRAMES_PER_SECOND = PACKETS_PER_SECOND * PACKET_FRAMES
FIRMWARE_REV = 0x30  # the revision byte in pufferfish's OEM III test packet
SNSA = 0x08  # STATUS sensor alarm: "set when the finger is removed" (cordova-plugin-nonin-bluetooth)
GREEN, YELLOW, RED = 0x02, 0x06, 0x04
PERFUSION_FRAMES = 12  # the colour shows for 12 frames (160 ms) of each pulse (cordova NoninFrame)
DF8_LPRF, DF8_MPRF, DF8_SNSA = 0x10, 0x08, 0x08
DF13_SPA, DF13_NOMS = 0x0200, 0x0100


def _colour(pi: float) -> int:
    # Our mapping of perfusion index to Nonin's signal-quality colours, not the device's algorithm.
    return GREEN if pi >= 2.0 else YELLOW if pi >= 0.5 else RED


def _split_hr(hr: int) -> tuple[int, int]:
    """9-bit pulse rate -> (MSB with HR8..HR7 in bits 1..0, LSB with HR6..HR0)."""
    return (hr >> 7) & 0x03, hr & 0x7F


def df2_frame(status: int, pleth: int, float_byte: int) -> bytes:
    """[0x01, STATUS, PLETH, FLOAT, CHK]."""
    body = bytes((DF2_START, status | STATUS_HIGH, pleth & 0xFF, float_byte & 0xFF))
    return body + bytes((checksum(body),))


def df7_frame(status: int, pleth: int, float_byte: int) -> bytes:
    """[STATUS, PLETH MSB, PLETH LSB, FLOAT, CHK]."""
    body = bytes((status | STATUS_HIGH, (pleth >> 8) & 0xFF, pleth & 0xFF, float_byte & 0xFF))
    return body + bytes((checksum(body),))


def packet_floats(shown: Vitals | None, display: Vitals | None, *, timer: int, stat2: int = 0) -> list[int]:
    """The 25 FLOAT bytes: recording values from `shown` (missing when None), display values from `display`."""
    hr = MISSING_HR if shown is None else shown.pulse_rate
    spo2 = MISSING_SPO2 if shown is None else shown.spo2
    hr_d = MISSING_HR if display is None else display.pulse_rate
    spo2_d = MISSING_SPO2 if display is None else display.spo2
    f = [0] * PACKET_FRAMES
    f[HR_MSB], f[HR_LSB] = _split_hr(hr)
    f[E_HR_MSB], f[E_HR_LSB] = _split_hr(hr)
    f[HR_D_MSB], f[HR_D_LSB] = _split_hr(hr_d)
    f[E_HR_D_MSB], f[E_HR_D_LSB] = _split_hr(hr_d)
    f[SPO2] = f[SPO2_FAST] = f[SPO2_BB] = f[E_SPO2] = spo2
    f[SPO2_D] = f[E_SPO2_D] = spo2_d
    f[REV] = FIRMWARE_REV
    f[TMR_MSB], f[TMR_LSB] = (timer >> 7) & 0x7F, timer & 0x7F
    f[7] = stat2
    return f


def df8_frame(vitals: Vitals | None) -> bytes:
    """[STATUS, HR LSB, SpO2, STAT2]; vitals None gives the missing values and the sensor alarm."""
    if vitals is None:
        msb, lsb = _split_hr(MISSING_HR)
        return bytes((STATUS_HIGH | msb, lsb, MISSING_SPO2, DF8_SNSA))
    msb, lsb = _split_hr(vitals.pulse_rate)
    colour = {RED: DF8_LPRF, YELLOW: DF8_MPRF}.get(_colour(vitals.perfusion_index), 0)
    return bytes((STATUS_HIGH | colour | msb, lsb, vitals.spo2, 0))


def _bcd(n: int) -> int:
    return ((n // 10) << 4) | (n % 10)


def df13_record(vitals: Vitals | None, when: datetime) -> bytes:
    """One spot-check record stamped `when` (wall time, BCD as MediPi reads it); None gives NOMS and 511/127."""
    hr = MISSING_HR if vitals is None else vitals.pulse_rate
    spo2 = MISSING_SPO2 if vitals is None else vitals.spo2
    status = DF13_NOMS if vitals is None else DF13_SPA
    stamp = (when.year // 100, when.year % 100, when.month, when.day, when.hour, when.minute, when.second,
             when.microsecond // 10_000)
    data = bytes(_bcd(n) for n in stamp) + bytes((status >> 8, status & 0xFF, hr >> 8, hr & 0xFF, 0, spo2))
    return DF13_HEADER + len(data).to_bytes(2, "big") + data + bytes((checksum(data), DF13_ETX))


class NoninSimulator:
    """A Nonin oximeter on a patient in one data format; next_frame(when) gives one second of its output."""

    baudrate = 9600
    DATA_FORMAT: ClassVar[int]

    def __init__(self, seed: int | None = None) -> None:
        self.patient = PatientModel(seed)
        self._off_left = 0
        self._was_on = True
        self.last_vitals: Vitals | None = None  # None while the sensor is off
        self._display: Vitals | None = None  # what the screen still shows
        self._off_seconds = 0
        self._timer = 0
        self._phase = 0.0  # position in the current heartbeat, 0..1

    def next_frame(self, when: datetime) -> bytes:
        """The next second: the patient's vitals, or missing values during a sensor-off spell."""
        vitals = self.patient.step()  # the patient goes on whether or not the sensor sees it
        rng = self.patient.rng
        if self._off_left == 0 and self._was_on and rng.random() < SENSOR_OFF_START_P:
            self._off_left = rng.randint(*SENSOR_OFF_RUN)
        if self._off_left:
            self._off_left -= 1
            self.last_vitals = None
            self._off_seconds += 1
            if self._off_seconds > 10:  # display values hold the last reading for 10 s (cordova NoninPacket)
                self._display = None
        else:
            self.last_vitals = self._display = vitals
            self._off_seconds = 0
        self._was_on = self.last_vitals is not None
        if self.DATA_FORMAT == 8:
            return df8_frame(self.last_vitals)
        if self.DATA_FORMAT == 13:
            return df13_record(self.last_vitals, when)
        return b"".join(self._packet(vitals) for _ in range(PACKETS_PER_SECOND))

    def _packet(self, vitals: Vitals) -> bytes:
        floats = packet_floats(self.last_vitals, self._display, timer=self._timer)
        self._timer = (self._timer + 1) & 0x3FFF
        make = df2_frame if self.DATA_FORMAT == 2 else df7_frame
        frames = []
        for k in range(PACKET_FRAMES):
            status, pleth = self._sample(vitals)
            frames.append(make(status | (STATUS_SYNC if k == 0 else 0), pleth, floats[k]))
        return b"".join(frames)

    def _sample(self, vitals: Vitals) -> tuple[int, int]:
        """STATUS bits and one pleth sample (8 bit for format 2, 16 bit for 7) at 75 samples a second."""
        if self.last_vitals is None:
            return SNSA, 0
        step = vitals.pulse_rate / 60.0 / FRAMES_PER_SECOND
        beat_start = self._phase < step * PERFUSION_FRAMES
        self._phase = (self._phase + step) % 1.0
        p = self._phase
        # A systolic peak and a smaller dicrotic one; the amplitude follows perfusion.
        wave = math.exp(-((p - 0.2) / 0.08) ** 2) + 0.35 * math.exp(-((p - 0.5) / 0.07) ** 2)
        amplitude = min(1.0, vitals.perfusion_index / 10.0)
        level = 0.5 + 0.45 * amplitude * (wave - 0.5)
        full = 0xFF if self.DATA_FORMAT == 2 else 0xFFFF
        status = _colour(vitals.perfusion_index) if beat_start else 0
        return status, max(0, min(full, round(level * full)))


class NoninDf2Simulator(NoninSimulator):
    """Format 2: [0x01, STATUS, PLETH, FLOAT, CHK], 75 frames a second."""

    DATA_FORMAT: ClassVar[int] = 2


class NoninDf7Simulator(NoninSimulator):
    """Format 7: [STATUS, PLETH MSB, PLETH LSB, FLOAT, CHK], 75 frames a second."""

    DATA_FORMAT: ClassVar[int] = 7


class NoninDf8Simulator(NoninSimulator):
    """Format 8: [STATUS, HR LSB, SpO2, STAT2] once a second."""

    DATA_FORMAT: ClassVar[int] = 8


class NoninDf13Simulator(NoninSimulator):
    """Format 13: one dated spot-check record a second."""

    DATA_FORMAT: ClassVar[int] = 13

