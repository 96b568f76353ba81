"""Assemble a GPU week, one folder per engine, from committed reference runs of one code commit, and run the
selection over it.

Why: a lease of 30 device minutes runs one or two days, so the GPU week is measured over several sessions, each
committed in a folder of its own. The selection report reads one run per engine (``evidence_dir`` and
``compare_runs``). This copies each listed day's ``metrics.json`` into ``OUT/<engine>/dayNN/``, with the manifest
of the engine's Day 7 run (its GPU self-test and versions), and writes ``OUT/sources.json``: where each day came
from, its profile and status. A day from another commit is refused: the point is one code commit. Then it runs the
selection notebook over the folders (``OUT/selection/day08/``: ``metrics.json`` and the rendered ``report.html``)
with no committed reference of another commit beside them, so every engine column comes from this week.

    .venv/bin/python benchmarks/gpu/assemble_week.py benchmarks/gpu/week-499cf7d.json

The spec (JSON): ``{"commit": "<sha>", "out": "reference/<folder>", "selection_profile": "<profile>", "days":
{"<engine>": {"<day>": "<run folder>"}}}``, paths from the repository root; the first engine is the evidence run.
A run folder holds ``manifest.json`` and ``dayNN/``; a day that another engine's run measured beside its own
(SGLang on vLLM's Days 3 and 6) is not listed: the report finds it there. A day the week's commit cannot measure
(a bug found after it) may come from a later commit only when the spec says why: ``"other_commit": {"<engine>":
{"<day>": "<why>"}}``; ``sources.json`` then records that day's commit and the reason beside it. A day an engine
could not run at all is listed with its reason and the committed folder that shows it: ``"not_run": {"<engine>":
{"<day>": {"why": "...", "evidence": "reference/<folder>"}}}``; ``sources.json`` records it as ``not run``, and
``OUT/<engine>/not_run.json`` keeps it where the selection report reads it (the day's cells say why).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _commit_of(run: Path) -> str:
    manifest = json.loads((run / "manifest.json").read_text())
    return manifest.get("environment", {}).get("git_commit") or ""


def assemble(spec: dict) -> dict:
    """Copy the days, check their commit, return what ``sources.json`` records."""
    out, commit = REPO / spec["out"], spec["commit"]
    skipped = {engine: {day: not_run(engine, day, entry, spec["days"].get(engine, {})) for day, entry in days.items()}
               for engine, days in spec.get("not_run", {}).items()}  # fmt: skip
    sources: dict[str, dict[str, dict]] = {}
    for engine, days in spec["days"].items():
        sources[engine] = {}
        for day, folder in sorted(days.items(), key=lambda kv: int(kv[0])):
            run = REPO / folder
            found, why = _commit_of(run), spec.get("other_commit", {}).get(engine, {}).get(day)
            if not found.startswith(commit) and not why:
                sys.exit(f"{folder}: commit {found[:12] or 'unknown'}, not {commit[:12]}: not one code commit")
            metrics = run / f"day{int(day):02d}" / "metrics.json"
            if not metrics.exists():
                sys.exit(f"{folder}: no day{int(day):02d}/metrics.json")
            target = out / engine / metrics.parent.name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(metrics, target / "metrics.json")
            result = json.loads(metrics.read_text())
            sources[engine][day] = {"from": folder, "profile": result["profile"], "status": result["status"]}
            if not found.startswith(commit):
                sources[engine][day].update(commit=found, why=why)
        manifest_run = REPO / days.get("7", next(iter(days.values())))
        shutil.copyfile(manifest_run / "manifest.json", out / engine / "manifest.json")
    for engine, days in skipped.items():
        sources.setdefault(engine, {}).update(days)
        # beside the engine's days, where the selection report reads them (its cells say why, not "not measured")
        (out / engine).mkdir(parents=True, exist_ok=True)
        kept = {day: {"why": e["why"], "evidence": e["evidence"]} for day, e in days.items()}
        (out / engine / "not_run.json").write_text(json.dumps(kept, indent=1) + "\n")
    return {"commit": commit, "days": sources}


def not_run(engine: str, day: str, entry: dict, run_days: dict) -> dict:
    """A day the engine could not run, as ``sources.json`` keeps it: the reason and the folder that shows it, which
    must be committed; a day both run and not run is refused."""
    if day in run_days:
        sys.exit(f"not_run.{engine}.{day}: the spec also lists a run of that day ({run_days[day]}): keep one")
    evidence = entry.get("evidence")
    if not entry.get("why") or not evidence or not (REPO / evidence).is_dir():
        sys.exit(f"not_run.{engine}.{day}: give a 'why' and an 'evidence' folder that exists, e.g. reference/<run>")
    return {"status": "not run", "why": entry["why"], "evidence": evidence}


def run_selection(out: Path, engines: list[str], profile: str) -> Path:
    """The selection notebook over the assembled folders, as the runner would render it; the executed notebook
    is not kept (the report and metrics.json are)."""
    import papermill

    from playbook.run.runner import render_html

    notebooks = REPO / "notebooks"
    day08 = out / "selection" / "day08"
    shutil.rmtree(day08.parent, ignore_errors=True)
    day08.mkdir(parents=True)
    here = {engine: os.path.relpath(out / engine, notebooks) for engine in engines}
    parameters = {"profile": profile, "evidence_dir": here[engines[0]], "compare_runs": [here[e] for e in engines[1:]],
                  "gpu_day3_json": "", "gpu_reference_dir": "", "reference_json": "",
                  "output_dir": os.path.relpath(day08, notebooks)}  # fmt: skip
    executed = day08 / "notebook.ipynb"
    papermill.execute_notebook(str(notebooks / "selection_report.ipynb"), str(executed), parameters=parameters,
                               cwd=str(notebooks), progress_bar=False)  # fmt: skip
    render_html(executed, day08 / "report.html", f"Day 8: Engine selection over {out.name}")
    executed.unlink()
    return day08


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    out = REPO / spec["out"]
    record = assemble(spec)
    (out / "sources.json").write_text(json.dumps(record, indent=1) + "\n")
    for engine, days in record["days"].items():
        listed = ", ".join(f"{d} ({v.get('profile', 'no run')}, {v['status']})" for d, v in days.items())
        print(f"{engine}: days {listed}")
    day08 = run_selection(out, list(record["days"]), spec["selection_profile"])
    verdict = json.loads((day08 / "metrics.json").read_text())["steps"]["measured_verdict"]
    print(f"selection: {day08.relative_to(REPO)}: {verdict['engine']}{' (a tie)' if verdict['tie'] else ''}")


if __name__ == "__main__":
    main(sys.argv[1])
