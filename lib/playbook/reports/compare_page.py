"""The engine comparison page: ``compare.json`` of :mod:`playbook.run.compare` → one page with both engines in
one chart, the median and spread of their rounds, and the verdict per level (a winner only outside the spread).

Every number on it is in ``compare.json`` beside it; the per-request records stay in the run's ``records/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from playbook.reports.html import render as render_template
from playbook.reports.plots import concurrency_axis, figure_png

TABLE_COLUMNS = {"rounds": "rounds", "output_tok_s": "output tok/s (median)", "output_tok_s_low": "low",
                 "output_tok_s_high": "high", "output_tok_s_spread_pct": "spread %", "tpot_p50_ms": "TPOT p50 ms",
                 "ttft_p50_ms": "TTFT p50 ms", "ttft_p99_ms": "TTFT p99 ms", "req_s": "req/s",
                 "prefix_cache_hit_rate": "prefix-cache hits", "status": "status"}  # fmt: skip


def levels_frame(record: dict[str, Any]) -> pd.DataFrame:
    rows = [{"engine": engine, **row} for engine, rows in record["summary"]["levels"].items() for row in rows]
    return pd.DataFrame(rows)


def plot_engines(frame: pd.DataFrame) -> plt.Figure:
    """Throughput with each level's lowest-to-highest round as an error bar, and TPOT p50, engines overlaid."""
    fig, (tput, tpot) = plt.subplots(1, 2, figsize=(11, 4))
    for engine, group in frame.groupby("engine"):
        group = group.sort_values("concurrency")
        low = group.get("output_tok_s_low", group["output_tok_s"]).fillna(group["output_tok_s"])
        high = group.get("output_tok_s_high", group["output_tok_s"]).fillna(group["output_tok_s"])
        errors = [group["output_tok_s"] - low, high - group["output_tok_s"]]
        tput.errorbar(group["concurrency"], group["output_tok_s"], yerr=errors, marker="o", capsize=3, label=engine)
        tpot.plot(group["concurrency"], group["tpot_p50_ms"], marker="o", label=engine)
    tput.set(title="Output throughput (median; bars: lowest-highest round)", ylabel="tokens/s", xscale="log")
    tpot.set(title="TPOT p50 (median round)", ylabel="ms", xscale="log")
    for ax in (tput, tpot):
        ax.set_xlabel("concurrent requests")
        concurrency_axis(ax, sorted(frame["concurrency"].unique()))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def level_table(frame: pd.DataFrame) -> str:
    shown = frame[["engine", "concurrency", *[c for c in TABLE_COLUMNS if c in frame]]]
    shown = shown.sort_values(["concurrency", "engine"]).rename(columns=TABLE_COLUMNS)
    return shown.round(2).to_html(index=False, classes="numbers", border=0, na_rep="")


def command_line(argv: list[str]) -> str:
    """The server's arguments without the interpreter, a machine path shown by its last part (the model folder's
    name, say): the page travels to readers who do not have that machine."""
    return " ".join(Path(a).name if a.startswith("/") else a for a in argv[1:])


def render(results_dir: Path, out_dir: Path) -> Path:
    """``report.html`` and a copy of ``compare.json`` in ``out_dir``; paths on the page are relative to it."""
    record = json.loads((results_dir / "compare.json").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    if (results_dir / "compare.json").resolve() != (out_dir / "compare.json").resolve():
        shutil.copy(results_dir / "compare.json", out_dir / "compare.json")
    frame = levels_frame(record)
    commands = {name: command_line(s.get("argv") or []) for name, s in record["servers"].items()}
    html = render_template("compare.html.j2", record=record, commands=commands,
                           chart_png=figure_png(plot_engines(frame)) if not frame.empty else None,
                           levels_table=level_table(frame) if not frame.empty else "")  # fmt: skip
    path = out_dir / "report.html"
    path.write_text(html)
    return path


def record_from_runs(day7_metrics: dict[str, Path]) -> dict[str, Any]:
    """A comparison record from separate Day 7 runs of each engine (engine -> its ``day07/metrics.json``): the
    engines ran one after the other, not side by side, and with one round each the verdicts say "spread unknown"
    unless the runs had rounds of their own. For references made before ``playbook.run.compare``."""
    from playbook.load.rounds import summarize
    from playbook.reports.results import load_day_result

    rows, profile, rounds = [], None, 1
    for engine, path in day7_metrics.items():
        result = load_day_result(path)
        profile = profile or result.profile
        for level in result.steps.sweep or []:
            rounds = max(rounds, level.rounds or 1)
            rows.append(level.model_dump() | {"engine": engine, "round": 1})
    engines = list(day7_metrics)
    return {"profile": profile, "engines": engines, "rounds": rounds, "memory_share": "the whole card, in turn",
            "status": "ok", "rows": rows, "summary": summarize(rows, engines), "gpu_check": None, "servers": {},
            "started_at": None, "finished_at": None, "runs": {e: str(p) for e, p in day7_metrics.items()}}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Draw playbook.run.compare's compare.json as a page")
    parser.add_argument("results", type=Path, nargs="?", help="the folder holding compare.json")
    parser.add_argument("--runs", nargs="+", metavar="ENGINE=DAY07_METRICS",
                        help="instead: separate Day 7 runs of each engine (written to --out/compare.json)")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.runs:
        record = record_from_runs({k: Path(v) for k, v in (pair.split("=", 1) for pair in args.runs)})
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "compare.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
        args.results = args.out
    print(render(args.results, args.out))


if __name__ == "__main__":
    main()
