"""``reference/index.html``: every committed GPU reference on one page, each day's summary box first.

A reference folder is laid out like a run (``dayNN/metrics.json`` + ``report.html``), possibly one level deeper
per model (``h200-…/smollm2/day02``); folders with a ``multigpu.json`` are linked as they are."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from playbook.core.fileio import utc_now
from playbook.reports.html import render
from playbook.reports.notebook_html import rerender_html
from playbook.reports.summary import day_box

RAW_TITLE = "<title>Notebook</title>"  # nbconvert's default: a report rendered before the report form


def _group(folder: Path, root: Path) -> dict[str, Any]:
    days = []
    for metrics in sorted(folder.rglob("*day0[1-8]/metrics.json")):
        day_dir = metrics.parent
        label = str(day_dir.relative_to(folder))
        report = day_dir / "report.html"
        days.append({"label": label, "box": day_box(day_dir),
                     "report": str(report.relative_to(root)) if report.exists() else None})  # fmt: skip
    files = [*folder.glob("README.md"), *sorted(folder.glob("*.html")), *folder.glob("multigpu.json")]
    return {"name": folder.name, "days": days, "links": [str(p.relative_to(root)) for p in files]}


def write_reference_page(root: Path) -> Path:
    root = Path(root)
    groups = [_group(folder, root) for folder in sorted(p for p in root.iterdir() if p.is_dir())]
    path = root / "index.html"
    path.write_text(render("references.html.j2", groups=groups, generated=utc_now()))
    return path


def rerender_raw_reports(root: Path) -> list[Path]:
    """Every day report under ``root`` still in the raw form, cleaned in place (``rerender_html``) and titled
    "<the notebook's heading> · <profile> · <date>" from its own page and ``metrics.json``. Idempotent."""
    done = []
    for report in sorted(Path(root).rglob("day0[1-8]/report.html")):
        text = report.read_text()
        if RAW_TITLE not in text or not (report.parent / "metrics.json").exists():
            continue
        metrics = json.loads((report.parent / "metrics.json").read_text())
        heading = re.search(r"<h1[^>]*>([^<]+)", text)
        name = html.unescape(heading.group(1)).strip() if heading else f"Day {metrics.get('day')}"
        title = f"{name} · {metrics.get('profile', '?')} · {str(metrics.get('started_utc', ''))[:10]}"
        done.append(rerender_html(report, title, day_box(report.parent)))
    return done
