"""ruff with the project's rules (pyproject.toml [tool.ruff.lint]): undefined names, unused imports,
closures over loop variables, zip without strict= ... Runs in a second; a finding fails CI."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    assert ruff.exists(), "ruff is a dev dependency: run ./dev to sync the venv"
    r = subprocess.run([str(ruff), "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
