"""The import graph of edgehar/ has no cycle, and the runtime imports nothing above it.

Every import statement counts, also those inside functions (a lazy import is still a
dependency): edges come from the source's AST, so the test needs no optional package."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "edgehar"


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _resolve(module: str, is_pkg: bool, level: int, target: str | None) -> str:
    base = module.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([target] if target else []))


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = (_resolve(mod, is_pkg, node.level, node.module) if node.level
                        else node.module or "")
                # `from pkg import sub` depends on the submodule when it is one
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]
            for t in targets:
                while t and t not in mods and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in mods and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_graph_sees_lazy_imports():
    g = import_graph()
    # edgehar.cli imports the training code only inside its commands
    assert "edgehar.train.trainer" in g["edgehar.cli"]
    assert "edgehar.runtime.logs.hapt" in g["edgehar.runtime.logs"]


def test_a_planted_cycle_is_found():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_in_edgehar():
    assert find_cycles(import_graph()) == []


def test_runtime_imports_nothing_above_it():
    g = import_graph()
    for mod, deps in g.items():
        if mod.startswith("edgehar.runtime"):
            above = sorted(d for d in deps if not d.startswith("edgehar.runtime"))
            assert above == [], f"{mod} imports {above}"


def test_registry_imports_nothing_but_the_error_type():
    # the model modules import it to register; it must not import them back
    assert import_graph()["edgehar.train.registry"] <= {"edgehar.runtime.errors"}
