"""Every relative link in the README, the docs and the references' READMEs points to a file or folder that is
committed: a moved report or a renamed doc breaks a test, not a reader's click."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from playbook.core.profiles import REPO_ROOT

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")  # [text](target), markdown inline links
DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")),
        *sorted((REPO_ROOT / "reference").glob("*/README.md"))]  # fmt: skip


def committed() -> set[str]:
    """Tracked paths and every folder above them (a fresh clone has exactly these)."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    paths = set(files.stdout.split())
    return paths | {str(Path(p).parents[i]) for p in paths for i in range(len(Path(p).parents) - 1)}


def relative_targets(doc: Path) -> list[str]:
    """The doc's links that point into the repository (no scheme, no pure #anchor), without their #fragment."""
    targets = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves_to_a_committed_path(doc):
    tracked = committed()
    broken = []
    for target in relative_targets(doc):
        resolved = (doc.parent / target).resolve()
        try:
            inside = str(resolved.relative_to(REPO_ROOT))
        except ValueError:
            broken.append(f"{target} (outside the repository)")
            continue
        if inside not in tracked and inside != ".":
            broken.append(target)
    assert broken == [], f"{doc.relative_to(REPO_ROOT)}: broken links {broken}"


def test_the_checker_catches_a_broken_link(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("[a](https://example.com) [b](#top) [c](missing/file.md#part) [d](./x.md)")
    assert relative_targets(doc) == ["missing/file.md", "./x.md"]
