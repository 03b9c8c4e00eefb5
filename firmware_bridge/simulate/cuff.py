"""A simulated non-invasive blood pressure cuff: an ORU^R01 (IHE PCD-01) with systolic, diastolic, mean and
the cuff's pulse rate each time it completes a cycle, and nothing in between, as a cuff set to cycle does.

`edge-app simulate hl7-oru --profile cuff` runs it; the demo uses it as its BP cuff, so a crew's
Journey 1 (NEWS2 5 medium, then 7 high) can be followed with a real BP behind it.
"""
from __future__ import annotations

from datetime import datetime

from firmware_bridge.codecs.hl7_mllp import frame
from firmware_bridge.simulate.hl7 import Hl7Simulator, _stamp, oru_header

CYCLE_TICKS = 60  # a measurement a minute at 1 Hz: short for demos and tests (a crew sets 2-15 min)
# The first measurement a few seconds after switching on (a cuff takes a while to inflate and read), so
# the bridge, which opens the port a moment after the simulator starts, is there to receive it.
FIRST_TICK = 5


def nibp_oru(control_id: str, when: datetime, systolic: int, diastolic: int, mean: int, pulse: int,
             device_id: str) -> str:
    """One PCD-01 ORU^R01 from a cuff (segments joined by CR): MDC NIBP codes (IEEE 11073-10101, 150021-3)
    in mm[Hg] and MDC_PULS_RATE_NON_INV (149546), the measurement's time in OBX-14."""
    ts = _stamp(when)
    mmhg, bpm = "266016^MDC_DIM_MMHG^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC"
    rows = oru_header(control_id, ts, f"EDGE_CUFF^{device_id}^EUI-64")
    for code, sub, value, unit in (("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "1.5.1.1", systolic, mmhg),
                                   ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "1.5.1.2", diastolic, mmhg),
                                   ("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", "1.5.1.3", mean, mmhg),
                                   ("149546^MDC_PULS_RATE_NON_INV^MDC", "1.5.1.4", pulse, bpm)):
        rows.append(f"OBX|{len(rows) - 3}|NM|{code}|{sub}|{value}|{unit}|||||R|||{ts}")
    return "\r".join(rows) + "\r"


class Hl7CuffSimulator(Hl7Simulator):
    """A cuff cycling every `cycle_ticks` frames (the first at `first_tick`): next_frame() gives the framed ORU^R01
    when a measurement completes, else nothing. ACKs are counted as the monitor simulator counts them."""

    def __init__(self, seed: int | None = None, *, device_id: str = "00112233445566CF",
                 cycle_ticks: int = CYCLE_TICKS, first_tick: int = FIRST_TICK) -> None:
        super().__init__(seed, device_id=device_id)
        self.cycle_ticks = cycle_ticks
        self.first_tick = first_tick
        self.ticks = 0

    def next_frame(self, when: datetime) -> bytes:
        tick, self.ticks = self.ticks, self.ticks + 1
        if tick < self.first_tick or (tick - self.first_tick) % self.cycle_ticks:
            return b""
        rng = self.patient.rng
        # A stable adult: about 124/78 (NEWS2 scores a systolic of 111-219 as 0), a pulse near 80.
        systolic, diastolic = round(rng.gauss(124, 6)), round(rng.gauss(78, 4))
        pulse = self.patient.step().pulse_rate
        self.sent += 1
        control_id = f"CUFF{self.sent:08d}"
        self.pending[control_id] = self.sent
        text = nibp_oru(control_id, when.replace(microsecond=0), systolic, diastolic,
                        round(diastolic + (systolic - diastolic) / 3), pulse, self.device_id)
        return frame(text.encode("ascii"))
