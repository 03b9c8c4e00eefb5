"""mypy with the project's config (pyproject.toml [tool.mypy]) over both packages. Cold, as in CI's clean
clone: about 10 s on two cores. A finding fails CI."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_nothing(tmp_path: Path) -> None:
    mypy = Path(sys.executable).with_name("mypy")
    assert mypy.exists(), "mypy is a dev dependency: run ./dev to sync the venv"
    r = subprocess.run([str(mypy), "--config-file", "pyproject.toml", "--cache-dir", str(tmp_path / "mypy_cache"),
                        "edge_app", "firmware_bridge"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
