"""The floor plan holds: layers import only downwards, no cycles, no day imports another day,
and the library never reaches into the notebook harness (docs/guide.md, "Layout")."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "lib" / "playbook"
LAYERS = ["core", "sizing", "serving", "load", "reports", "days", "run", "cli"]
DAY_MODULES = {f"playbook.days.day{n}" for n in range(1, 8)} | {"playbook.days.selection"}
HARNESS = "playbook.run.notebook"


def module_name(path: Path) -> str:
    parts = ["playbook", *path.relative_to(LIB).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(lib: Path = LIB) -> dict[str, set[str]]:
    """Every playbook module -> the playbook modules it imports, lazy imports inside functions included."""
    modules = {module_name(p): p for p in lib.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("playbook")}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("playbook"):
                for alias in node.names:  # ``from playbook.days import day1`` imports a module
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in modules else node.module)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:  # playbook/__init__.py: the version only
        return 0
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else LAYERS.index("cli")


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Everything that breaks the floor plan, one sentence each."""
    found = []
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        found.append(f"import cycle: {' -> '.join(exc.args[1])}")
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer(target) > layer(module):
                found.append(f"{module} imports {target}, a higher layer")
            if module in DAY_MODULES and target in DAY_MODULES:
                found.append(f"{module} imports another day, {target}")
            if target == HARNESS:
                found.append(f"{module} imports the notebook harness")
            if layer(module) >= LAYERS.index("run") and target in DAY_MODULES:
                found.append(f"{module} imports a day, {target}: call it through a hook (days.preflights)")
    return found


def test_the_library_keeps_its_floor_plan():
    graph = import_graph()
    assert len(graph) > 50 and "playbook.serving.engines.vllm" in graph
    assert violations(graph) == []


def test_every_module_sits_in_a_layer():
    strays = [m for m in import_graph() if m.count(".") >= 1 and m.split(".")[1] not in LAYERS
              and m not in ("playbook.cli", "playbook.__main__")]  # fmt: skip
    assert strays == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"playbook.sizing.a": {"playbook.sizing.b"}, "playbook.sizing.b": {"playbook.sizing.a"}}, "import cycle"),
        ({"playbook.core.profiles": {"playbook.serving.launcher"}, "playbook.serving.launcher": set()}, "higher layer"),
        ({"playbook.days.day2": {"playbook.days.day1"}, "playbook.days.day1": set()}, "another day"),
        ({"playbook.days.day4": {HARNESS}, HARNESS: set()}, "imports the notebook harness"),
        ({"playbook.run.runner": {"playbook.days.day4"}, "playbook.days.day4": set()}, "imports a day"),
        ({"playbook.cli": {"playbook.days.day7"}, "playbook.days.day7": set()}, "imports a day"),
    ],
)
def test_each_kind_of_violation_is_caught(graph, expected):
    assert any(expected in v for v in violations(graph))
