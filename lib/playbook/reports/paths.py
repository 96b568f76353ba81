"""Reports travel; the machine that wrote them does not. Absolute paths of that machine become portable names.

A report is forwarded to a team and committed under ``reference/``: ``/root/gpu-outputs/.../day03/server.log`` or
``/work/main/.venv/bin/python`` means nothing to its reader and says where somebody's checkout was. So every
absolute path under a machine root (``/root``, ``/home``, ``/tmp``, ...) in a page's text becomes:

* a path relative to the run folder, where it lies inside it (``day03/server.log``);
* ``$PLAYBOOK_CACHE/...`` for the playbook's cache (model folders, adapters, quantized checkpoints);
* ``outputs/...`` or ``reference/...`` for a path inside the repository's result folders;
* ``python`` for an interpreter, and ``…/<last two parts>`` for anything else.

API paths such as ``/v1/chat/completions`` are not machine paths and stay.

    python -m playbook.reports.paths reference/      # rewrites the committed pages in place, prints what changed
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

MACHINE_ROOTS = ("root", "work", "tmp", "home", "opt", "usr", "var", "mnt", "srv", "data", "scratch", "Users",
                 "private")  # fmt: skip
MACHINE_PATH = re.compile(r"(?<![\w/.~+…-])/(?:" + "|".join(MACHINE_ROOTS) + r")(?:/[\w.@+=,-]+)+/?")
RUN_FOLDER = re.compile(r"/run-\d{4}(?:/(.+))?$")
CACHE = re.compile(r"(?:playbook-cache|\.cache/playbook)/(.+)")
IN_REPO = re.compile(r"/((?:outputs|reference|notebooks|params)/.+)")
INTERPRETER = re.compile(r"/bin/python[\d.]*$")


def portable(path: str, run_dir: Path | None = None) -> str:
    """One machine path as a reader elsewhere can read it (see the module's list)."""
    if run_dir is not None:
        root = str(run_dir).rstrip("/") + "/"
        if path.startswith(root):
            return path[len(root) :] or "."
    if match := RUN_FOLDER.search(path):  # a run folder of another machine: the day folders are the same
        return match.group(1) or "."
    if match := CACHE.search(path):
        return f"$PLAYBOOK_CACHE/{match.group(1)}"
    if match := IN_REPO.search(path):
        return match.group(1)
    if INTERPRETER.search(path):
        return "python"
    parts = [p for p in path.split("/") if p]
    return "…/" + "/".join(parts[-2:])


def scrub_text(text: str, run_dir: Path | None = None) -> str:
    return MACHINE_PATH.sub(lambda m: portable(m.group(0), run_dir), text)


def machine_paths(text: str) -> list[str]:
    """Every machine path left in ``text`` (a test's check, and what the CLI reports)."""
    return MACHINE_PATH.findall(text)


def scrub_html(html: str, run_dir: Path | None = None) -> str:
    """``html`` with its machine paths made portable. A plain substitution keeps the page byte for byte
    otherwise; an inlined image's base64 cannot match, since a path must not follow a letter, digit, ``+`` or
    ``/`` (``=`` only ends base64, it never precedes a slash there)."""
    return scrub_text(html, run_dir)


def page_text(html: str) -> str:
    """The text a reader sees: every text node outside scripts and styles."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for node in soup(["script", "style"]):
        node.decompose()
    return soup.get_text(" ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make the machine paths in committed report pages portable")
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    for page in sorted(args.folder.rglob("*.html")):
        html = page.read_text()
        before = machine_paths(page_text(html))
        if before:
            page.write_text(scrub_html(html, run_dir=page.parent.parent))
            print(f"{page}: {len(before)} machine path(s) made portable")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
