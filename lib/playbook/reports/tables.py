"""Small tables for what notebooks used to print as Python reprs: a server's command line, a settings mapping.

A report reader should meet ``--max-model-len 2048`` in a row of a table, not ``['python', '-m', ...]`` or
``{'host': '127.0.0.1', ...}`` in a paragraph (and never a machine path: ``playbook.reports.paths``).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from playbook.reports.paths import scrub_text


def argv_rows(argv: list[str]) -> list[dict[str, str]]:
    """``--flag value`` pairs as rows; a flag without a value gets ``(set)``; what comes before the first flag
    (the interpreter and the module) is one ``command`` row."""
    rows: list[dict[str, str]] = []
    head = _until_first_flag(argv)
    if head:
        rows.append({"argument": "command", "value": scrub_text(" ".join(head))})
    rest = argv[len(head) :]
    index = 0
    while index < len(rest):
        flag = rest[index]
        value = rest[index + 1] if index + 1 < len(rest) and not rest[index + 1].startswith("--") else None
        rows.append({"argument": flag, "value": scrub_text(value) if value is not None else "(set)"})
        index += 2 if value is not None else 1
    return rows


def _until_first_flag(argv: list[str]) -> list[str]:
    head = []
    for arg in argv:
        if arg.startswith("--"):
            break
        head.append(arg)
    return head


def mapping_rows(mapping: Mapping[str, Any] | str | None) -> list[dict[str, str]]:
    """A mapping (or the text of a Python dict literal, as vLLM logs its non-default arguments) as rows."""
    if mapping is None:
        return []
    if isinstance(mapping, str):
        try:
            mapping = ast.literal_eval(mapping)
        except (ValueError, SyntaxError):
            return [{"setting": "(as logged)", "value": scrub_text(mapping)}]
        if not isinstance(mapping, Mapping):
            return [{"setting": "(as logged)", "value": scrub_text(str(mapping))}]
    return [{"setting": str(key), "value": scrub_text(str(value))} for key, value in mapping.items()]
