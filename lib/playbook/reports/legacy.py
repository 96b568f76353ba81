"""Pages rendered before the report form learned tables and a Checks section, tidied from what they show.

Committed reports of November 2026 print a step as a Python dict (``{'engine': 'vllm', 'argv': [...]}``) and test
lines (``PASS: c=1: 32/32 ok``) between the paragraphs. Their executed notebooks were not kept, so rendering them
again would mean running the GPU again. What they show is enough: an output that is one Python literal becomes a
table, and the ``PASS:`` lines move into a collapsed "Checks" section, as in the pages written since.

    python -m playbook.reports.legacy reference/      # tidies in place, prints what changed

:func:`leftovers` is the test's reader: a dict or list repr, or a ``PASS:`` line, outside the Checks section.
"""

from __future__ import annotations

import argparse
import ast
import html
import json
import re
from pathlib import Path

PASS_LINE = re.compile(r"^\s*PASS: ?(.*)$", re.M)
# A Python dict or list repr as a reader meets it: a quoted key and a colon, or a list of quoted strings/dicts.
REPR = re.compile(r"\{'[^'\n]{1,60}': |\[\{'|\['[^'\n]{0,80}', '")
CHECKS_CLASS = "checks"
# Quoted text a reader is shown on purpose: code cells and the code blocks of the narrative (the article's own
# commands, quoted with their Python literals).
QUOTED = ".jp-InputArea, .jp-RenderedMarkdown, .jp-MarkdownOutput, script, style"


CODE = re.compile(r"^(from [\w.]+ import |import [\w.]+)", re.M)


def is_code(text: str) -> bool:
    """An output that prints source code (the article's own commands, shown beside the real ones)."""
    return bool(CODE.search(text))


def _cell(value: object) -> str:
    """One value as table text: a list of plain strings joined by spaces (an argv), anything else as JSON."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def literal_table(value: object) -> str | None:
    """A dict as a two-column table, a list of dicts as rows; None for anything else (left as printed)."""
    if isinstance(value, dict) and value:
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_cell(v))}</td></tr>"
                       for k, v in value.items())  # fmt: skip
        return f'<table class="dataframe">{rows}</table>'
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        columns = list(dict.fromkeys(k for row in value for k in row))
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(row.get(c, '')))}</td>" for c in columns) + "</tr>"
                       for row in value)  # fmt: skip
        return f'<table class="dataframe"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return None


def _as_literal(text: str) -> object | None:
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _tidy_line(line: str) -> str:
    """``label: {'a': 1}`` printed on one line: the literal part as JSON (a reader's form, not Python's)."""
    match = re.search(r"[\[{].*[\]}]\s*$", line)
    value = _as_literal(match.group(0)) if match else None
    if isinstance(value, (dict, list)):
        return line[: match.start()] + json.dumps(value, ensure_ascii=False)
    return line


def tidy(page: str) -> tuple[str, int, int, int]:
    """(the page tidied, outputs turned into tables, PASS lines moved, outputs with a literal rewritten).
    Idempotent: a tidied page has nothing left to change."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page, "html.parser")
    tables, moved, rewritten = 0, [], 0
    quoted = {id(node) for node in soup.select(QUOTED)}
    for pre in soup.find_all("pre"):
        if pre.find_parent("details", class_=CHECKS_CLASS) or any(id(p) in quoted for p in pre.parents):
            continue
        text = pre.get_text()
        if is_code(text):
            continue
        has_repr = REPR.search(text) is not None
        value = _as_literal(text) if has_repr else None
        table = literal_table(value) if value is not None else None
        if table is not None:
            pre.replace_with(BeautifulSoup(table, "html.parser"))
            tables += 1
            continue
        # an object's repr (``MemoryPlan(device=...)``): no reader's form to turn it into
        if has_repr and value is None and not PASS_LINE.search(text) and re.search(r"\w+\(\w+=", text):
            pre.string = "(a Python object's repr was printed here; its values are in this day's metrics.json)"
            rewritten += 1
            continue
        found = PASS_LINE.findall(text)
        if not found and not has_repr:
            continue
        moved += found
        rewritten += not found
        kept = "\n".join(_tidy_line(line) for line in PASS_LINE.sub("", text).splitlines() if line.strip())
        if kept:
            pre.string = kept + "\n"
        else:
            (pre.find_parent(class_="jp-OutputArea-child") or pre).decompose()
    if moved:
        items = "".join(f"<li>&#10003; {html.escape(m)}</li>" for m in moved)
        section = (f'<details class="{CHECKS_CLASS}"><summary>Checks: {len(moved)} passed (moved here from the '
                   f"narrative when this older page was tidied)</summary><ul>{items}</ul></details>")  # fmt: skip
        anchor = soup.find("main") or soup.body or soup
        anchor.append(BeautifulSoup(section, "html.parser"))
    for cell in soup.select("table.dataframe td"):  # a DataFrame column of dicts, shown truncated
        text = cell.get_text()
        if REPR.search(text):
            cell.string = re.sub(r"'([^'\n]*)'", r'"\1"', text)
            rewritten += 1
    return str(soup), tables, len(moved), rewritten


def leftovers(page: str) -> list[str]:
    """What a reader should not meet: a ``PASS:`` line or a Python dict/list repr outside the Checks section and
    outside code (a page that shows its code may quote a literal there)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page, "html.parser")
    for node in soup.select(f"details.{CHECKS_CLASS}, {QUOTED}"):
        node.decompose()
    for pre in soup.find_all("pre"):
        if is_code(pre.get_text()):
            pre.decompose()
    text = soup.get_text("\n")
    return [m.group(0).strip() for m in PASS_LINE.finditer(text)] + REPR.findall(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Tidy older committed report pages: literals to tables, "
                                     "PASS lines into a Checks section")  # fmt: skip
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    for path in sorted(args.folder.rglob("*.html")):
        page, tables, moved, rewritten = tidy(path.read_text())
        if tables or moved or rewritten:
            path.write_text(page)
            print(f"{path}: {tables} literal(s) as tables, {moved} PASS line(s) into Checks, "
                  f"{rewritten} printed literal(s) as JSON")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
