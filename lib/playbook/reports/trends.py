"""``outputs/trends.html``: each headline metric over the runs of a profile, regressions marked.

One point per run that measured the metric, in run order; a Day 7 run that its baseline
comparison flagged as a regression is drawn and listed in red. The page is rebuilt with the
run index after every run (and by ``playbook index``).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from playbook.core.fileio import utc_now
from playbook.reports.html import render
from playbook.reports.layout import load_runs


def _peak(field: str, stat: str | None = None) -> Callable[[dict], float | None]:
    def read(steps: dict) -> float | None:
        summary = (steps.get("peak") or {}).get("summary") or {}
        value = summary.get(field)
        return value.get(stat) if stat and isinstance(value, dict) else value

    return read


def _best_speedup(steps: dict) -> float | None:
    values = [r["throughput_speedup"] for r in steps.get("speedup") or []
              if r.get("method") != "none" and r.get("concurrency") == 1]  # fmt: skip
    return max(values) if values else None


def _hit_rate(steps: dict) -> float | None:
    row = next((r for r in steps.get("comparison") or [] if r.get("workload") == "shared-prefix"
                and r.get("prefix_caching")), None)  # fmt: skip
    return row.get("hit_rate") if row else None


HEADLINES: list[tuple[str, int, Callable[[dict], float | None]]] = [
    ("Day 7: output tok/s at the peak", 7, _peak("output_throughput_tok_s")),
    ("Day 7: TTFT P99 at the peak (ms)", 7, _peak("ttft", "p99_ms")),
    ("Day 7: E2E P99 at the peak (ms)", 7, _peak("e2e", "p99_ms")),
    ("Day 2: best speculative speedup at c=1", 2, _best_speedup),
    ("Day 3: prefix-cache hit rate (shared prefixes)", 3, _hit_rate),
]


def collect(outputs_root: Path) -> pd.DataFrame:
    """One row per run x headline metric that the run measured."""
    rows = []
    for run in reversed(load_runs(outputs_root)):  # oldest first
        folder = Path(outputs_root) / run["_dir"]
        for metric, day, read in HEADLINES:
            path = folder / f"day{day:02d}" / "metrics.json"
            if not path.exists():
                continue
            steps = json.loads(path.read_text()).get("steps", {})
            value = read(steps)
            if value is None:
                continue
            regressed = bool((steps.get("baseline_comparison") or {}).get("regressed")) if day == 7 else False
            rows.append({"run_id": run["run_id"], "profile": (run.get("profile") or {}).get("name"),
                         "started_utc": run.get("started_utc"), "metric": metric, "value": value,
                         "regressed": regressed})  # fmt: skip
    return pd.DataFrame(rows, columns=["run_id", "profile", "started_utc", "metric", "value", "regressed"])


def _plot(frame: pd.DataFrame, metric: str) -> str:
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.plot(frame["run_id"], frame["value"], marker="o")
    bad = frame[frame["regressed"]]
    ax.scatter(bad["run_id"], bad["value"], color="#b3261e", zorder=3, s=60, label="regressed")
    ax.set_title(metric, fontsize=10)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def write_trends(outputs_root: Path) -> Path:
    frame = collect(outputs_root)
    sections: list[dict[str, Any]] = []
    for profile, by_profile in frame.groupby("profile"):
        plots = [{"metric": m, "png": _plot(g, m)} for m, g in by_profile.groupby("metric", sort=False)]
        regressed = sorted(by_profile.loc[by_profile["regressed"], "run_id"].unique())
        sections.append({"profile": profile, "plots": plots, "regressed": regressed})
    html = render("trends.html.j2", sections=sections, generated=utc_now())
    path = Path(outputs_root) / "trends.html"
    path.write_text(html)
    return path
