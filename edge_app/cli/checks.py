"""One row of `edge-app doctor`'s report, and its three verdicts."""
from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL = "ok", "WARN", "FAIL"


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the report: what was checked, the verdict, what was found, and how to fix it."""

    check: str
    status: str
    detail: str
    fix: str = ""
