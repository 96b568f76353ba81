"""``<run>/index.html``: one run's front page, the selection verdict first, then every day's summary box with a
link to its report. What a team opens first; the reports and notebooks are one click down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playbook.core.fileio import utc_now
from playbook.reports.html import render
from playbook.reports.results import Day8Result, ResultSchemaError, load_day_result
from playbook.reports.run_manifest import read_manifest
from playbook.reports.summary import day_box


def _selection(run_dir: Path) -> Day8Result | None:
    """The selection report's result, when Day 8 ran and wrote one that reads."""
    try:
        result = load_day_result(run_dir / "day08" / "metrics.json")
    except ResultSchemaError:
        return None
    return result if isinstance(result, Day8Result) else None


def _verdicts(run_dir: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the article's decision, the verdict from the measurements), each when Day 8 recorded it."""
    result = _selection(run_dir)
    decision = result.steps.decision if result else None
    measured = result.steps.measured_verdict if result else None
    return (decision.model_dump() if decision else None, measured.model_dump() if measured else None)


def write_run_page(run_dir: Path) -> Path:
    manifest = read_manifest(Path(run_dir) / "manifest.json")
    sections = [{"day": day, "box": day_box(Path(run_dir) / (day.folder or "missing"))} for day in manifest.days]
    decision, measured = _verdicts(Path(run_dir))
    page = render("run.html.j2", manifest=manifest, sections=sections, decision=decision, measured=measured,
                  generated=utc_now())  # fmt: skip
    path = Path(run_dir) / "index.html"
    path.write_text(page)
    return path
