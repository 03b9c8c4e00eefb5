"""House rules that keep the layers apart (DESIGN.md): checked, not hoped for."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
    return found


def test_firmware_bridge_never_imports_edge_app() -> None:
    assert not {m for m in imported_modules("firmware_bridge") if m.split(".")[0] == "edge_app"}


def test_clinical_rules_import_no_store_or_api_and_nothing_lazily() -> None:
    # The rules are pure and typed (edge_app.model in, text or FHIR JSON out); the store and the API call
    # them, never the reverse. A function-level import would hide a cycle, so every import is at the top.
    assert not {m for m in imported_modules("edge_app/clinical")
                if m.split(".")[:2] in (["edge_app", "store"], ["edge_app", "api"])}
    for path in (ROOT / "edge_app" / "clinical").glob("*.py"):
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        lazy = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in top]
        assert not lazy, f"{path.name}: imports inside functions at lines {lazy}"


def test_codecs_do_no_io_and_read_no_clock() -> None:
    banned = {"asyncio", "time", "datetime.datetime.now", "serial", "socket", "os", "threading"}  # logging at DEBUG is allowed
    for path in (ROOT / "firmware_bridge" / "codecs").glob("*.py"):
        mods = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods.add(node.module)
        assert not mods & banned, f"{path.name} imports {mods & banned}"


def test_daemon_does_not_import_textual() -> None:
    code = ("import sys, edge_app.daemon.run, edge_app.cli.main; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')); "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_nothing_reads_the_shared_design_folder() -> None:
    for path in [*ROOT.glob("firmware_bridge/**/*.py"), *ROOT.glob("edge_app/**/*.py"), *ROOT.glob("tests/**/*.py")]:
        if path == Path(__file__):
            continue
        assert "../" + "shared" not in path.read_text(), path
