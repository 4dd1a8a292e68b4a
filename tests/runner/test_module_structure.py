"""The runner's shape (CONTRIBUTING.md, "How the runner is organised"): stages that import
along the data's way only, no import cycle (typing-only imports included), small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import gw_runner

PACKAGE = Path(gw_runner.__file__).resolve().parent


def _imports() -> dict[str, set[str]]:
    """module -> the package's modules it imports (anywhere in it, TYPE_CHECKING too)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        name = path.stem
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
        graph[name] = found & {p.stem for p in PACKAGE.glob("*.py")}
    return graph


def test_no_import_cycle_typing_only_imports_included():
    graph = _imports()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_stages_import_along_the_data_flow_only():
    graph = _imports()
    assert not graph["_claiming"] & {"_running", "_reporting", "_worker", "_wakeups"}
    assert not graph["_reporting"] & {"_claiming", "_running", "_worker", "_wakeups"}
    assert not graph["_running"] & {"_worker", "_wakeups"}
    assert {"_claiming", "_reporting"} <= graph["_running"]
    importers = {name for name, deps in graph.items() if "_worker" in deps}
    assert importers <= {"__init__", "_cli"}, importers
    assert "_worker" not in graph["_health"] and "_worker" not in graph["_context"]


def test_no_module_is_much_over_600_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 630} == {}
