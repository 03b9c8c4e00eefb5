"""Real Radical-7 "ASCII 1" lines from a simulated patient, with the occasional sensor-off spell."""
from __future__ import annotations

from datetime import datetime

from firmware_bridge.simulate.patient import PatientModel, Vitals

# EXC bits, as in firmware_bridge.codecs.masimo_ascii (from mdpnp poxrad_discrete.h).
EXC_SENSOR_OFF = 0x000020
EXC_MASIMO_SET = 0x000800

# Sensor-off spells: about 1 line in 40 overall, in runs of 2-4 lines (a finger slipping out and back).
# A run of mean length 3 starting with probability p after each normal line gives 3p/(1+3p) ~ 1/40.
SENSOR_OFF_START_P = 1 / 117
SENSOR_OFF_RUN = (2, 4)


def masimo_line(vitals: Vitals | None, when: datetime, *, serial_number: str,
                alarm: int = 0, exc: int | None = None) -> bytes:
    """One Radical-7 ASCII 1 line ending CR LF; vitals None gives the dashed sensor-off line."""
    # Field order, widths and dash patterns follow the Radical-7 service manual example
    # (05/15/07 08:12:21 SN=0000070986 SPO2=---% BPM=--- PI=--.--% ... PVI=--- ALARM=0000 EXC=000000).
    if vitals is None:
        values = "SPO2=---% BPM=--- PI=--.--%"
        exc = EXC_SENSOR_OFF if exc is None else exc
    else:
        values = f"SPO2={vitals.spo2:03d}% BPM={vitals.pulse_rate:03d} PI={vitals.perfusion_index:05.2f}%"
        exc = EXC_MASIMO_SET if exc is None else exc
    return (f"{when:%m/%d/%y %H:%M:%S} SN={serial_number} {values} SPCO=--.-% SPMET=--.-% DESAT=-- "
            f"PIDELTA=+-- PVI=--- ALARM={alarm:04X} EXC={exc:06X}\r\n").encode("ascii")


class MasimoSimulator:
    """A Radical-7 on a patient: next_frame() gives the line for each second (pure apart from `when`)."""

    baudrate = 9600

    def __init__(self, seed: int | None = None, *, serial_number: str = "0000012345") -> None:
        self.patient = PatientModel(seed)
        self.serial_number = serial_number
        self._off_left = 0
        self._was_on = True
        self.last_vitals: Vitals | None = None  # None while the sensor is off

    def next_frame(self, when: datetime) -> bytes:
        """The next line: the patient's vitals, or a sensor-off line during a spell."""
        vitals = self.patient.step()  # the patient goes on whether or not the sensor sees it
        rng = self.patient.rng
        # A spell starts only after a good line, so two spells never merge into one long one.
        if self._off_left == 0 and self._was_on and rng.random() < SENSOR_OFF_START_P:
            self._off_left = rng.randint(*SENSOR_OFF_RUN)
        if self._off_left:
            self._off_left -= 1
            self.last_vitals = None
        else:
            self.last_vitals = vitals
        self._was_on = self.last_vitals is not None
        return masimo_line(self.last_vitals, when, serial_number=self.serial_number)
