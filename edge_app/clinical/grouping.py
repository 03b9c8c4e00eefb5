"""Which stored readings were one measurement: a blood pressure's systolic and diastolic, a GCS's components.

Pure: typed Observation rows in, the same rows grouped out. The FHIR mapping makes each group one panel
Observation, and the handover texts say a blood pressure as "120/80" only for a pair taken together.
Rows are compared by identity (id()), so each row lands in one group at most even if two are equal.
"""
from __future__ import annotations

from collections.abc import Sequence

from edge_app.clinical.gcs import GCS_METRICS, NT, assessments, component, gcs_total
from edge_app.model.observation import Observation

# One cuff frame is decoded into several readings received together; a clinician types systolic and
# diastolic as two entries, seconds apart. Wider windows would pair readings from separate cycles.
DEVICE_WINDOW_MS = 1_000
MANUAL_WINDOW_MS = 120_000
BP_METRICS = ("bp_systolic", "bp_diastolic", "bp_mean")


def taken_together(a: Observation, b: Observation) -> bool:
    """Whether two readings belong to one measurement: same device (or both manual), same moment."""
    if a.device != b.device:
        return False
    if a.device_time is not None and a.device_time == b.device_time:
        return True
    window = DEVICE_WINDOW_MS if a.device else MANUAL_WINDOW_MS
    return abs(a.received_at - b.received_at) <= window


def blood_pressure_pairs(rows: Sequence[Observation]) -> tuple[list[list[Observation]], list[Observation]]:
    """Systolic + diastolic (+ mean) taken together, oldest first, and the rows left over."""
    ordered = sorted(rows, key=lambda r: (r.received_at, r.id))
    by_metric = {m: [r for r in ordered if r.metric == m] for m in BP_METRICS}
    used: set[int] = set()
    groups = []
    for s in by_metric["bp_systolic"]:
        d = next((r for r in by_metric["bp_diastolic"] if id(r) not in used and taken_together(s, r)), None)
        if d is None:
            continue
        group = [s, d]
        mean = next((r for r in by_metric["bp_mean"] if id(r) not in used and taken_together(s, r)), None)
        if mean is not None:
            group.append(mean)
        used.update(id(r) for r in group)
        groups.append(group)
    return groups, [r for r in ordered if id(r) not in used]


def gcs_groups(rows: Sequence[Observation]) -> tuple[list[tuple[list[Observation], int | None]], list[Observation]]:
    """Complete GCS assessments (eye, verbal, motor in that order; their total) and the rows left over.

    A recorded gcs_total joins its assessment only when it matches the components' sum (or both are NT):
    one that disagrees is left over, to be kept as its own Observation rather than silently dropped."""
    used: set[int] = set()
    groups = []
    for found in assessments(rows):
        by_metric = {r.metric: r for r in found}
        if not all(m in by_metric for m in GCS_METRICS):
            continue
        parts = [by_metric[m] for m in GCS_METRICS]
        total = gcs_total(*(p.value for p in parts))
        recorded = by_metric.get("gcs_total")
        if recorded is not None and component("total", recorded.value) == (NT if total is None else total):
            used.add(id(recorded))
        used.update(id(by_metric[m]) for m in GCS_METRICS)
        groups.append((parts, total))
    return groups, [r for r in rows if id(r) not in used]
