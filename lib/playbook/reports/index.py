"""``outputs/index.html``: every run on one page, rebuilt with the trends page after each run."""

from __future__ import annotations

from pathlib import Path

from playbook.core.fileio import utc_now
from playbook.reports.html import render
from playbook.reports.layout import load_runs, mark_gone_runs
from playbook.reports.trends import write_trends


def write_index(outputs_root: Path) -> Path:
    """``outputs/index.html``: one row per run with status, profile and engine versions. A run whose runner is
    gone (killed, rebooted) is marked ``interrupted`` first, so no dead run shows as in progress."""
    mark_gone_runs(Path(outputs_root))
    path = Path(outputs_root) / "index.html"
    path.write_text(render("index.html.j2", runs=load_runs(outputs_root), generated=utc_now()))
    write_trends(outputs_root)
    return path
