"""The value object every codec produces."""
from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.metrics import Metric, unit_of


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured value in its metric's canonical unit.

    device_time is the monitor's own timestamp in epoch ms, read as UTC wall time (monitor clocks have
    no zone and drift; the receive time is stamped by the driver, never by a codec). flags carry the
    device's status for this value (e.g. "sensor_off", "low_perfusion").
    """

    metric: Metric
    value: float | str | bool
    unit: str
    device_time: int | None = None
    flags: tuple[str, ...] = ()

    @classmethod
    def of(cls, metric: Metric, value: float | str | bool, *, device_time: int | None = None,
           flags: tuple[str, ...] = ()) -> Reading:
        """A reading in the metric's canonical unit."""
        return cls(metric, value, unit_of(metric), device_time, flags)

    def as_dict(self) -> dict[str, object]:
        """The JSON shape `edge-app decode` prints."""
        out: dict[str, object] = {"metric": str(self.metric), "value": self.value, "unit": self.unit}
        if self.device_time is not None:
            out["device_time"] = self.device_time
        if self.flags:
            out["flags"] = list(self.flags)
        return out
