"""``outputs/trends.html``: each headline metric over the runs of a profile, regressions marked.

One point per run that measured the metric, in run order; a Day 7 run that its baseline
comparison flagged as a regression is drawn and listed in red. The page is rebuilt with the
run index after every run (and by ``playbook index``).
"""

from __future__ import annotations

import base64
import io
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
from playbook.reports.results import Day2Result, Day3Result, Day7Result, DayResult, ResultSchemaError, load_day_result


def _peak(field: str, stat: str | None = None) -> Callable[[DayResult], float | None]:
    def read(result: DayResult) -> float | None:
        peak = result.steps.peak if isinstance(result, Day7Result) else None
        if peak is None:
            return None
        value = getattr(peak.summary, field)
        return getattr(value, stat) if stat else value

    return read


def _best_speedup(result: DayResult) -> float | None:
    return result.best_speedup_at_c1() if isinstance(result, Day2Result) else None


def _hit_rate(result: DayResult) -> float | None:
    return result.prefix_hit_rate("vllm") if isinstance(result, Day3Result) else None


HEADLINES: list[tuple[str, int, Callable[[DayResult], float | None]]] = [
    ("Day 7: output tok/s at the peak", 7, _peak("output_throughput_tok_s")),
    ("Day 7: TTFT P99 at the peak (ms)", 7, _peak("ttft", "p99_ms")),
    ("Day 7: E2E P99 at the peak (ms)", 7, _peak("e2e", "p99_ms")),
    ("Day 2: best speculative speedup at c=1", 2, _best_speedup),
    ("Day 3: vLLM prefix-cache hit rate (shared prefixes)", 3, _hit_rate),
]


def _regressed(result: DayResult) -> bool:
    comparison = result.steps.baseline_comparison if isinstance(result, Day7Result) else None
    return bool(comparison and comparison.regressed)


def collect(outputs_root: Path) -> pd.DataFrame:
    """One row per run x headline metric that the run measured (a day file this release cannot read is
    left out of the page rather than stopping it)."""
    rows = []
    for run in reversed(load_runs(outputs_root)):  # oldest first
        folder = Path(outputs_root) / (run.folder or "")
        for metric, day, read in HEADLINES:
            path = folder / f"day{day:02d}" / "metrics.json"
            if not path.exists():
                continue
            try:
                result = load_day_result(path)
            except ResultSchemaError:
                continue
            value = read(result)
            if value is None:
                continue
            rows.append({"run_id": run.run_id, "profile": run.profile_name,
                         "started_utc": run.started_utc, "metric": metric, "value": value,
                         "regressed": _regressed(result)})  # fmt: skip
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
