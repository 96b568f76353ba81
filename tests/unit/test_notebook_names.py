"""Every library name a notebook uses exists and every library call fits its function's signature: a renamed,
moved or re-signed function breaks this fast unit test, not a 10-minute notebook run. (The notebooks themselves
run against live servers in tests/integration.)"""

from __future__ import annotations

import ast
import importlib
import inspect
import json

import pytest

from playbook.run.runner import NOTEBOOKS_DIR

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def code_of(path) -> ast.Module:
    cells = json.loads(path.read_text())["cells"]
    return ast.parse("\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"))


def imported(tree: ast.Module) -> tuple[dict[str, object], list[str]]:
    """Names the notebook imports from the library (modules and functions), and the imports that do not exist."""
    names: dict[str, object] = {}
    missing = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("playbook"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if value is None:
                    try:
                        value = importlib.import_module(f"{node.module}.{alias.name}")
                    except ModuleNotFoundError:
                        missing.append(f"{node.module}.{alias.name}")
                        continue
                names[alias.asname or alias.name] = value
    return names, missing


def target_of(node: ast.expr, names: dict[str, object]) -> object | None:
    """``alias.attr`` or ``name`` resolved through the notebook's library imports."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        module = names.get(node.value.id)
        if inspect.ismodule(module):
            return getattr(module, node.attr, MISSING)
    return None


MISSING = object()


def call_problem(call: ast.Call, function: object) -> str | None:
    """Does the call bind to the function's parameters? (Skipped for ``*args``/``**kwargs`` at the call.)"""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*[None] * len(call.args), **{k.arg: None for k in call.keywords})
    except TypeError as exc:
        return f"{getattr(function, '__qualname__', function)}: {exc}"
    return None


def missing_names(tree: ast.Module) -> list[str]:
    """Library names that do not exist, and library calls that do not fit their signatures."""
    names, problems = imported(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and target_of(node, names) is MISSING:
            problems.append(f"{names[node.value.id].__name__}.{node.attr}")
        if isinstance(node, ast.Call):
            function = target_of(node.func, names)
            if callable(function) and not inspect.isclass(function) and (problem := call_problem(node, function)):
                problems.append(problem)
    return sorted(set(problems))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_library_name_a_notebook_uses_exists(path):
    assert missing_names(code_of(path)) == []


def test_a_moved_name_is_caught():
    tree = ast.parse(
        "from playbook.days import day7\nfrom playbook.load.sweep import nothing_here\nday7.requests_for(1)"
    )
    assert missing_names(tree) == ["playbook.days.day7.requests_for", "playbook.load.sweep.nothing_here"]
