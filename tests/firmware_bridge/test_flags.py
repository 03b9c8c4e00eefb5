"""Every flag a codec can attach to a reading is classified: it makes the value unreliable, or it is
information. A codec that gains a flag fails here until someone decides what it means (flags.py)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from firmware_bridge.flags import INFORMATIONAL, UNRELIABLE, is_unreliable

CODECS = Path(__file__).resolve().parents[2] / "firmware_bridge" / "codecs"
_WORD = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+|[a-z]+")
# Module-level tables whose values are strings but not flags.
NOT_FLAG_TABLES = {"_ERROR_TEXT"}


def codec_flag_literals() -> set[str]:
    """The strings each codec module can emit as flags: its flag tables' values, and the flags it spells
    out in tuples (e.g. `("no_sensor_contact",)`)."""
    out: set[str] = set()
    for path in CODECS.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                name = target.id if isinstance(target, ast.Name) else ""
                if name in NOT_FLAG_TABLES:
                    continue
                out |= {v.value for v in node.value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple) and len(node.elts) == 1:
                (elt,) = node.elts
                if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
                    out.add(elt.value)
            # flags.append("sensor_disconnect"): a flag added to a list being built
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append":
                out |= {a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return {s for s in out if _WORD.fullmatch(s)}


def test_every_codec_flag_is_classified() -> None:
    found = codec_flag_literals()
    assert len(found) > 60  # the scan sees the tables at all
    assert found - UNRELIABLE - INFORMATIONAL == set()


def test_the_two_sets_are_disjoint() -> None:
    assert UNRELIABLE & INFORMATIONAL == set()


@pytest.mark.parametrize("flag", ["sensor_off", "no_sensor_contact", "low_signal_iq", "low_perfusion",
                                  "questionable_pulse", "out_of_track", "sensor_disconnected", "demo",
                                  "sensor_disconnect"])
def test_the_issues_named_conditions_are_unreliable(flag: str) -> None:
    assert is_unreliable(("alarm_active", flag))


def test_information_and_unknown_words_leave_a_value_usable() -> None:
    assert not is_unreliable(())
    assert not is_unreliable(("spo2_low", "site_finger", "irregular_pulse", "some_vendor_word"))
