"""The NEWS2 panel: total, risk band in words and colour, the SpO2 scale in use, the parameters behind it."""
from __future__ import annotations

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


def news2_lines(doc: News2 | None) -> tuple[str, str]:
    """(text, risk class) for a NEWS2 result; None means no open encounter."""
    if doc is None:
        return "NEWS2: no open encounter", "risk-none"
    scale = f"SpO2 scale {doc.scale}" + (" (88-92% target)" if doc.scale == 2 else "")
    params: dict[str, int | None] = msgspec.structs.asdict(doc.parameters)
    parts = [f"{label} {_value(key, doc)}→{params[key]}" if params.get(key) is not None else f"{label} –"
             for key, label in LABELS]
    if doc.warning:
        return f"NEWS2 NOT SCORED: {doc.warning} · {scale}\n{doc.response}", "risk-none"
    total, risk = doc.total, doc.risk
    if total is None:
        partial = sum(v for v in params.values() if v is not None)
        head = f"NEWS2 INCOMPLETE (at least {partial}) · {scale}"
        names = dict(LABELS)
        tail = "missing: " + ", ".join(names.get(m, m) for m in doc.missing)
        return f"{head}\n{' · '.join(parts)}\n{tail}", "risk-none"
    head = f"NEWS2 {total} {RISK_WORDS.get(str(risk), str(risk).upper())} · {scale}"
    return f"{head}\n{' · '.join(parts)}\n{doc.response}", f"risk-{risk}"


class News2Panel(Static):
    """Shows the latest NEWS2 of the encounter on screen."""

    doc: reactive[News2 | None] = reactive(None, always_update=True)

    def watch_doc(self, doc: News2 | None) -> None:
        text, risk = news2_lines(doc)
        self.update(text)
        for cls in RISK_CLASSES:
            self.set_class(cls == risk, cls)
