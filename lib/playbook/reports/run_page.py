"""``<run>/index.html``: one run's front page, the selection verdict first, then every day's summary box with a
link to its report. What a team opens first; the reports and notebooks are one click down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playbook.core.fileio import utc_now
from playbook.reports.html import render
from playbook.reports.results import Day8Result, ResultSchemaError, load_day_result
from playbook.reports.summary import day_box


def _decision(run_dir: Path) -> dict[str, Any] | None:
    """The selection report's decision, when Day 8 ran and recorded one."""
    try:
        result = load_day_result(run_dir / "day08" / "metrics.json")
    except ResultSchemaError:
        return None
    decision = result.steps.decision if isinstance(result, Day8Result) else None
    return decision if isinstance(decision, dict) and decision.get("engine") else None


def _measured(run_dir: Path) -> dict[str, Any] | None:
    """The verdict from the measurements (Day 8), shown before the article's."""
    try:
        result = load_day_result(run_dir / "day08" / "metrics.json")
    except ResultSchemaError:
        return None
    verdict = result.steps.measured_verdict if isinstance(result, Day8Result) else None
    return verdict.model_dump() if verdict else None


def write_run_page(run_dir: Path) -> Path:
    manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
    sections = [{"day": day, "box": day_box(Path(run_dir) / (day.get("folder") or "missing"))}
                for day in manifest.get("days", [])]  # fmt: skip
    page = render("run.html.j2", manifest=manifest, sections=sections, decision=_decision(Path(run_dir)),
                  measured=_measured(Path(run_dir)),
                  generated=utc_now())  # fmt: skip
    path = Path(run_dir) / "index.html"
    path.write_text(page)
    return path
