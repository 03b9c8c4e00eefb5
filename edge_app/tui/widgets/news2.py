"""The NEWS2 panel: total, risk band in words and colour, the SpO2 scale in use, the parameters behind it."""
from __future__ import annotations

import time

import msgspec
from textual.reactive import reactive
from textual.widgets import Static

from edge_app.model.news2 import News2

LABELS = (("resp_rate", "RR"), ("spo2", "SpO2"), ("oxygen_supplement", "O2"), ("bp_systolic", "BP"),
          ("pulse", "pulse"), ("consciousness", "ACVPU"), ("temperature", "temp"))
RISK_WORDS = {"low": "LOW", "low-medium": "LOW-MEDIUM (a single 3)", "medium": "MEDIUM", "high": "HIGH"}
RISK_CLASSES = ("risk-low", "risk-low-medium", "risk-medium", "risk-high", "risk-none")


def _value(key: str, doc: News2) -> str:
    got = doc.inputs.get(key)
    if got is None:
        return "?"
    v = got.value
    if key == "oxygen_supplement":
        return "on O2" if v else "air"
    if isinstance(v, float):
        return f"{v:.1f}" if key == "temperature" else f"{v:.0f}"
    return str(v)


def _age(ms: float) -> str:
    s = max(0.0, ms / 1000)
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.0f} h"


def news2_lines(doc: News2 | None, now_ms: float | None = None) -> tuple[str, str]:
    """(text, risk class) for a NEWS2 result; None means no open encounter. An incomplete score still
    shows the band its known parameters guarantee, in that band's colour, and a red score is said in words
    (RCP NEWS2 2017, Chart 2: a single parameter scoring 3 needs an urgent review)."""
    if doc is None:
        return "NEWS2: no open encounter", "risk-none"
    scale = f"SpO2 scale {doc.scale}" + (" (88-92% target)" if doc.scale == 2 else "")
    params: dict[str, int | None] = msgspec.structs.asdict(doc.parameters)
    parts = [f"{label} {_value(key, doc)}→{params[key]}" if params.get(key) is not None else f"{label} –"
             for key, label in LABELS]
    if doc.warning:
        return f"NEWS2 NOT SCORED: {doc.warning} · {scale}\n{doc.response}", "risk-none"
    red = " · RED SCORE (a 3)" if doc.red_score else ""
    oldest = ""
    if doc.oldest_input_time is not None:
        now = now_ms if now_ms is not None else time.time() * 1000
        oldest = f" · oldest input {_age(now - doc.oldest_input_time)}"
    total, risk = doc.total, doc.risk
    if total is None:
        floor = doc.risk_at_least
        band = f"at least {RISK_WORDS.get(str(floor), str(floor).upper()).split(' (')[0]}" if floor else "band unknown"
        head = f"NEWS2 INCOMPLETE · {band}{red} · {scale}{oldest}"
        names = dict(LABELS)
        stale = list(doc.stale)
        missing = [m for m in doc.missing if m not in stale]
        tail = " · ".join(w for w in (
            "missing: " + ", ".join(names.get(m, m) for m in missing) if missing else "",
            "stale: " + ", ".join(names.get(m, m) for m in stale) if stale else "") if w)
        cls = f"risk-{floor}" if floor and floor != "low" else "risk-none"
        return f"{head}\n{' · '.join(parts)}\n{tail}", cls
    head = f"NEWS2 {total} {RISK_WORDS.get(str(risk), str(risk).upper())}{red} · {scale}{oldest}"
    return f"{head}\n{' · '.join(parts)}\n{doc.response}", f"risk-{risk}"


class News2Panel(Static):
    """Shows the latest NEWS2 of the encounter on screen."""

    doc: reactive[News2 | None] = reactive(None, always_update=True)
    now: reactive[float] = reactive(0.0)

    def watch_doc(self, doc: News2 | None) -> None:
        self._draw()

    def watch_now(self, now: float) -> None:
        if self.doc is not None and self.doc.oldest_input_time is not None:
            self._draw()

    def _draw(self) -> None:
        text, risk = news2_lines(self.doc, self.now * 1000 if self.now else None)
        self.update(text)
        for cls in RISK_CLASSES:
            self.set_class(cls == risk, cls)
