"""docs/metrics.md lists the metric vocabulary exactly as the code has it: every metric, its unit, LOINC
code, kind and range, and nothing else."""
from __future__ import annotations

from pathlib import Path

from firmware_bridge.metrics import METRICS

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def test_the_metrics_page_matches_the_code() -> None:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] not in ("metric", "---"):
            rows[cells[0]] = cells
    assert set(rows) == {m.value for m in METRICS}
    for metric, info in METRICS.items():
        _, _, loinc, unit, kind, accepted = rows[metric.value]
        assert (loinc, unit, kind) == (info.loinc or "-", info.unit or "-", info.kind.value), metric
        assert accepted == ("-" if info.low is None else f"{info.low:g} to {info.high:g}"), metric
