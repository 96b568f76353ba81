"""Assemble a GPU week, one folder per engine, from committed reference runs of one code commit.

Why: a lease of 30 device minutes runs one or two days, so the GPU week is measured over several sessions, each
committed in a folder of its own. The selection report reads one run per engine (``evidence_dir`` and
``compare_runs``). This copies each listed day's ``metrics.json`` into ``OUT/<engine>/dayNN/``, with the manifest
of the engine's Day 7 run (its GPU self-test and versions), and writes ``OUT/sources.json``: where each day came
from, its profile and status. A day from another commit is refused: the point is one code commit.

    .venv/bin/python benchmarks/gpu/assemble_week.py benchmarks/gpu/week-499cf7d.json

The spec (JSON): ``{"commit": "<sha>", "out": "reference/<folder>", "days": {"<engine>": {"<day>": "<run
folder>"}}}``, paths from the repository root. A run folder holds ``manifest.json`` and ``dayNN/``; a day that
another engine's run measured beside its own (SGLang on vLLM's Days 3 and 6) is not listed: the report finds it
there.
"""

from __future__ import annotations

import json
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
    sources: dict[str, dict[str, dict]] = {}
    for engine, days in spec["days"].items():
        sources[engine] = {}
        for day, folder in sorted(days.items(), key=lambda kv: int(kv[0])):
            run = REPO / folder
            if not _commit_of(run).startswith(commit):
                sys.exit(
                    f"{folder}: commit {_commit_of(run)[:12] or 'unknown'}, not {commit[:12]}: not one code commit"
                )
            metrics = run / f"day{int(day):02d}" / "metrics.json"
            if not metrics.exists():
                sys.exit(f"{folder}: no day{int(day):02d}/metrics.json")
            target = out / engine / metrics.parent.name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(metrics, target / "metrics.json")
            result = json.loads(metrics.read_text())
            sources[engine][day] = {"from": folder, "profile": result["profile"], "status": result["status"]}
        manifest_run = REPO / days.get("7", next(iter(days.values())))
        shutil.copyfile(manifest_run / "manifest.json", out / engine / "manifest.json")
    return {"commit": commit, "days": sources}


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    out = REPO / spec["out"]
    record = assemble(spec)
    (out / "sources.json").write_text(json.dumps(record, indent=1) + "\n")
    for engine, days in record["days"].items():
        listed = ", ".join(f"{d} ({v['profile']}, {v['status']})" for d, v in days.items())
        print(f"{engine}: days {listed}")


if __name__ == "__main__":
    main(sys.argv[1])
