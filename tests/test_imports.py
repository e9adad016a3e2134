"""The import graph of edgehar/: the folders keep their layers, and no modules import in a cycle.

Every import statement counts, also those inside functions (a lazy import is still a
dependency): edges come from the source's AST, so the test needs no optional package."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "edgehar"

# DESIGN.md "Layout", bottom to top: a folder (or top-level module) imports its own modules and
# the layers below it, never a layer above nor a sibling in its own layer.
LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(s) for s in (
    {"runtime"},
    {"data"},
    {"quantize"},                      # arrays and callables: no torch model surgery
    {"train"},
    {"export"},
    {"pipeline", "benchmark", "evaluate_any"},
    {"cli"},
    {"launcher"},                      # the console script: names the extra when click is missing
))
# Beside the stack: they import only the runtime, and are used from this layer up.
ONLY_RUNTIME = {"report": "export",    # export calls report to render report.md/.html
                "fleet": "cli",
                "web": "cli"}          # the server behind `edgehar web`
ROOT = "edgehar"                       # the package itself (its __version__): anyone, importing nothing


@dataclass(frozen=True)
class Edge:
    source: str        # importing module
    target: str        # imported edgehar module
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(PACKAGE_DIR.parent)}:{self.line} imports {self.target}"


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


def import_edges() -> list[Edge]:
    """Every import of an edgehar module by another, with where it is written."""
    mods = _modules()
    edges = []
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
                    edges.append(Edge(mod, t, path, node.lineno))
    return sorted(set(edges), key=str)


def missing_modules() -> list[str]:
    """Imports of edgehar modules that do not exist (a module moved, an import left behind):
    lazy ones fail only when their function runs."""
    mods = _modules()
    out = []
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [_resolve(mod, is_pkg, node.level, node.module) if node.level
                         else node.module or ""]
            else:
                continue
            out += [f"{path.relative_to(PACKAGE_DIR.parent)}:{node.lineno} imports {n}"
                    for n in names if n.split(".")[0] == ROOT and n not in mods]
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in _modules()}
    for e in import_edges():
        graph[e.source].add(e.target)
    return graph


def folder(module: str) -> str:
    """edgehar.export.steps -> export; edgehar.cli -> cli; edgehar -> edgehar."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _rank(name: str) -> int:
    for i, layer in enumerate(LAYERS):
        if name in layer:
            return i
    raise KeyError(name)


def layer_violation(src: str, dst: str) -> str | None:
    """Why folder ``src`` may not import folder ``dst``, or None when it may."""
    if src == dst or dst == ROOT:
        return None
    if src == ROOT:
        return "the package root imports nothing"
    for name in (src, dst):
        if name not in ONLY_RUNTIME and not any(name in layer for layer in LAYERS):
            return f"{name} has no place in the layers: add it to LAYERS in tests/test_imports.py"
    if src in ONLY_RUNTIME:
        return None if dst == "runtime" else f"{src}/ imports only the runtime"
    if dst in ONLY_RUNTIME:
        lowest = ONLY_RUNTIME[dst]
        return None if _rank(src) >= _rank(lowest) else \
            f"{dst}/ is used from {lowest} up, and {src} is below {lowest}"
    if _rank(dst) < _rank(src):
        return None
    where = "a sibling in its own layer" if _rank(dst) == _rank(src) else "a layer above it"
    return f"{src} may not import {dst}: {where} (layers, bottom to top: " + \
        " < ".join("/".join(sorted(layer)) for layer in LAYERS) + ")"


def layer_violations(edges: list[Edge]) -> list[str]:
    out = []
    for e in edges:
        why = layer_violation(folder(e.source), folder(e.target))
        if why:
            out.append(f"{e}: {why}")
    return out


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


def test_the_graph_sees_lazy_and_relative_imports():
    g = import_graph()
    # edgehar.cli imports the training code only inside its commands
    assert "edgehar.train.trainer" in g["edgehar.cli"]
    assert "edgehar.runtime.logs.hapt" in g["edgehar.runtime.logs"]
    # `from . import converters` names the submodule
    assert "edgehar.export.converters" in g["edgehar.export.steps"]


def test_a_planted_cycle_is_found():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_planted_layer_violations_are_found_and_named():
    here = PACKAGE_DIR / "quantize" / "mcu.py"
    up = Edge("edgehar.quantize.mcu", "edgehar.export.tflite_file", here, 10)
    (msg,) = layer_violations([up])
    assert msg.startswith("edgehar/quantize/mcu.py:10 imports edgehar.export.tflite_file")
    assert "a layer above it" in msg
    assert layer_violation("report", "export") == "report/ imports only the runtime"
    assert layer_violation("fleet", "runtime") is None
    assert layer_violation("data", "report") is not None          # report is used from export up
    assert layer_violation("export", "report") is None
    assert "sibling" in layer_violation("pipeline", "benchmark")
    assert "no place" in layer_violation("cli", "newfolder")
    assert layer_violation("train", "quantize") is None and layer_violation("quantize", "train")


def test_folders_keep_their_layers():
    problems = layer_violations(import_edges())
    assert not problems, "imports against the layering:\n" + "\n".join(problems)


def test_every_edgehar_import_names_a_module():
    assert missing_modules() == []


def test_no_import_cycle_in_edgehar():
    assert find_cycles(import_graph()) == []


def test_registry_imports_nothing_but_the_error_type():
    # the model modules import it to register; it must not import them back
    assert import_graph()["edgehar.train.registry"] <= {"edgehar.runtime.errors"}
