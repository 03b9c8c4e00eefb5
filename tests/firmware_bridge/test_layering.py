"""House rules that code review misses: the bridge never imports edge_app; codecs do no I/O."""
from __future__ import annotations

import ast
from pathlib import Path

import firmware_bridge

PACKAGE = Path(firmware_bridge.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_firmware_bridge_never_imports_edge_app() -> None:
    files = list(PACKAGE.rglob("*.py"))
    assert len(files) > 10
    offenders = {str(f): m for f in files for m in imported_modules(f) if m.split(".")[0] == "edge_app"}
    assert not offenders


def test_codecs_are_pure() -> None:
    impure = {"asyncio", "os", "time", "socket", "serial", "select", "threading", "datetime", "pathlib"}
    for f in (PACKAGE / "codecs").rglob("*.py"):
        used = {m.split(".")[0] for m in imported_modules(f)}
        assert not used & impure, f"{f.name} imports {used & impure}"
