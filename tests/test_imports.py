"""No import cycles in edge_app or firmware_bridge, counting imports inside functions too (so a cycle cannot
hide behind one), and every import left inside a function says why it is lazy."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edge_app", "firmware_bridge")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that runs (anywhere, functions included), minus `if TYPE_CHECKING:` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _targets(node: ast.Import | ast.ImportFrom, here: str, modules: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        return {n for n in names if n in modules}
    base = node.module or ""
    if node.level:
        package = here if modules[here].name == "__init__.py" else here.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}".strip(".")
    out = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules}
    if base in modules and len(out) < len(node.names):
        out.add(base)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text())):
            edges |= _targets(node, name, modules)
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    assert "edge_app.daemon.run" in graph["edge_app.cli.main"]  # imported inside _dispatch


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles (imports inside functions count): " + "; ".join(" <-> ".join(c) for c in found)


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _function_imports(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each import inside a function that no "lazy" comment explains: on its line, on the
    comment line just above its group of imports, or a "lazy imports" comment opening the function."""
    lines = path.read_text().splitlines()
    unexplained = []
    for fn in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body_start = fn.body[0].lineno
        opening = "\n".join(lines[fn.lineno - 1:body_start + 2])
        if "# lazy imports" in opening:
            continue
        for node in _runtime_imports(fn):
            i = node.lineno - 1
            if "lazy" in lines[i]:
                continue
            j = i - 1
            while j >= 0 and (lines[j].strip().startswith(("import ", "from ")) or not lines[j].strip()):
                j -= 1
            if j >= 0 and lines[j].strip().startswith("#") and "lazy" in lines[j]:
                continue
            unexplained.append((node.lineno, lines[i].strip()))
    return unexplained


def test_imports_inside_functions_say_why_they_are_lazy() -> None:
    missing = [f"{path.relative_to(ROOT)}:{line}: {text}" for pkg in PACKAGES for path in sorted((ROOT / pkg).rglob("*.py"))
               for line, text in _function_imports(path)]
    assert not missing, ("imports inside functions must be lazy on purpose (start-up time, an optional part) "
                         "and say so with a '# lazy: why' comment:\n" + "\n".join(sorted(set(missing))))
