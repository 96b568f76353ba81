"""``reference/index.html``: every committed reference on one page, newest first, GPU and CPU runs apart, each
day's summary box first, and the newest engine comparison's answer at the top.

A reference folder is laid out like a run (``dayNN/metrics.json`` + ``report.html``), possibly one level deeper
per model (``h200-…/smollm2/day02``); folders with a ``multigpu.json`` are linked as they are, and a comparison
(``compare/compare.json`` of ``playbook.run.compare``) by its page. A README line starting "Superseded" marks the
folder as superseded, with that line shown beside its name."""

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


DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


def _group(folder: Path, root: Path) -> dict[str, Any]:
    days = []
    for metrics in sorted(folder.rglob("*day0[1-8]/metrics.json")):
        day_dir = metrics.parent
        label = str(day_dir.relative_to(folder))
        report = day_dir / "report.html"
        days.append({"label": label, "box": day_box(day_dir),
                     "report": str(report.relative_to(root)) if report.exists() else None})  # fmt: skip
    comparisons = sorted(p.parent for p in folder.glob("*/compare.json") if (p.parent / "report.html").exists())
    files = [*folder.glob("README.md"), *sorted(folder.glob("*.html")), *folder.glob("multigpu.json"),
             *(c / "report.html" for c in comparisons)]  # fmt: skip
    readme = folder / "README.md"
    lines = readme.read_text().splitlines() if readme.exists() else []
    date = DATE.search(folder.name)
    return {"name": folder.name, "days": days, "links": [str(p.relative_to(root)) for p in files],
            "title": lines[0].lstrip("# ").strip() if lines else folder.name,
            "superseded": _superseded(lines),
            "kind": "cpu" if folder.name.startswith("cpu") else "gpu", "date": date.group(1) if date else "",
            "comparisons": [_comparison(c, root) for c in comparisons]}  # fmt: skip


def _superseded(readme_lines: list[str]) -> str | None:
    """The README's paragraph that starts with "Superseded", as plain text; None when there is none."""
    for index, line in enumerate(readme_lines):
        if line.lstrip("*_ ").startswith("Superseded"):
            paragraph = []
            for following in readme_lines[index:]:
                if not following.strip():
                    break
                paragraph.append(following.strip())
            return " ".join(paragraph).replace("**", "").replace("`", "")
    return None


def _comparison(folder: Path, root: Path) -> dict[str, Any]:
    """The throughput verdict at each level of a comparison, for the page's top block."""
    record = json.loads((folder / "compare.json").read_text())
    sentences = [f"c={c['concurrency']}: {c['sentence']}" for c in record.get("summary", {}).get("comparisons", [])
                 if c["metric"] == "output_tok_s"]  # fmt: skip
    return {"page": str((folder / "report.html").relative_to(root)), "engines": record.get("engines", []),
            "profile": record.get("profile"), "sentences": sentences}  # fmt: skip


def write_reference_page(root: Path) -> Path:
    """Newest first by the date in the folder's name (then by name), GPU and CPU runs in their own sections."""
    root = Path(root)
    groups = [_group(folder, root) for folder in (p for p in root.iterdir() if p.is_dir())]
    groups.sort(key=lambda g: (g["date"], g["name"]), reverse=True)
    current = next((g for g in groups if g["kind"] == "gpu" and g["comparisons"] and not g["superseded"]), None)
    sections = [("Runs on GPUs", [g for g in groups if g["kind"] == "gpu"]),
                ("Runs on the CPU", [g for g in groups if g["kind"] == "cpu"])]  # fmt: skip
    path = root / "index.html"
    path.write_text(render("references.html.j2", sections=sections, current=current, generated=utc_now()))
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
