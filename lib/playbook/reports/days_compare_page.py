"""Engines side by side on Days 2, 3 and 6: one chart per comparison, every engine overlaid, from one run's files.

Day 3 measures the same structured tasks and the same shared-prefix workload on each engine (its comparison
section starts each other engine on the same host, one after the other); Day 6 serves the same adapters on each.
A reader should not have to hold two reports side by side, so this page draws them together, beside the table
of the numbers it drew. Every number is in the ``metrics.json`` it names.

    python -m playbook.reports.days_compare_page --day3 reference/h100-2026-11-25/day03/metrics.json \\
        --engine vllm --out reference/h100-2026-11-25/compare-days.html
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from playbook.reports.html import render as render_template
from playbook.reports.paths import scrub_html
from playbook.reports.plots import concurrency_axis, figure_png
from playbook.reports.results import Day2Result, Day3Result, Day6Result, load_day_result


def day2_frame(results: dict[str, Day2Result]) -> pd.DataFrame:
    """Each engine's speculative speedup (output tokens/s over no speculation, same workload and concurrency),
    computed from the methods' rows, so a day cut off before its own ``speedup`` step still counts what it ran."""
    rows = []
    for engine, result in results.items():
        runs = result.steps.dynamic("run_")
        base = {(r["workload"], r["concurrency"]): r.get("output_tok_s") for r in runs.get("none", {}).get("rows", [])}
        for method, run in runs.items():
            for r in run.get("rows", []) if method != "none" else []:
                none = base.get((r["workload"], r["concurrency"]))
                if none and r.get("output_tok_s"):
                    rows.append({"engine": engine, "method": method, "workload": r["workload"],
                                 "concurrency": r["concurrency"], "speedup": r["output_tok_s"] / none})  # fmt: skip
    return pd.DataFrame(rows)


def plot_day2(frame: pd.DataFrame) -> plt.Figure:
    """Speedup against concurrency, one panel a workload, one line an engine and method; 1.0 drawn."""
    workloads = sorted(frame.workload.unique())
    fig, axes = plt.subplots(1, len(workloads), figsize=(5.5 * len(workloads), 4), squeeze=False)
    for ax, workload in zip(axes[0], workloads, strict=True):
        for (engine, method), group in frame[frame.workload == workload].groupby(["engine", "method"]):
            group = group.sort_values("concurrency")
            ax.plot(group.concurrency, group.speedup, marker="o", label=f"{engine} {method}")
        ax.axhline(1.0, color="#555", linestyle="--")
        ax.set(title=f"{workload}: speedup over no speculation", xlabel="concurrent requests", ylabel="x",
               xscale="log")  # fmt: skip
        concurrency_axis(ax, sorted(frame.concurrency.unique()))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def day3_frame(result: Day3Result) -> pd.DataFrame:
    """Every comparison row of the day, one line each (the chart picks the structured rows it draws)."""
    rows = [r.model_dump() for r in result.steps.comparison or []]
    return pd.DataFrame(rows)


def plot_day3(frame: pd.DataFrame) -> plt.Figure:
    """Constrained and prompt-only TPOT at the highest concurrency, and the valid share, each engine a bar."""
    structured = frame[frame.workload == "structured"]
    top = structured[structured.concurrency == structured.concurrency.max()]
    fig, (tpot, valid) = plt.subplots(1, 2, figsize=(11, 4))
    engines = list(dict.fromkeys(top.engine))
    width = 0.8 / max(len(engines), 1)
    for i, engine in enumerate(engines):
        rows = top[top.engine == engine].set_index("constrained")
        xs = [x + i * width for x in range(2)]
        tpot.bar(xs, [rows.tpot_p50_ms.get(False), rows.tpot_p50_ms.get(True)], width, label=engine)
        valid.bar(xs, [100 * (rows.valid_rate.get(False) or 0), 100 * (rows.valid_rate.get(True) or 0)], width,
                  label=engine)  # fmt: skip
    for ax, title, unit in ((tpot, f"TPOT p50 at c={int(top.concurrency.max())}", "ms"),
                            (valid, "valid answers", "%")):  # fmt: skip
        ax.set_xticks([x + width * (len(engines) - 1) / 2 for x in range(2)], ["prompt only", "constrained"])
        ax.set(title=title, ylabel=unit)
        ax.grid(alpha=0.3, axis="y")
        ax.legend()
    fig.tight_layout()
    return fig


def day6_frame(result: Day6Result, engine: str) -> pd.DataFrame:
    """Output throughput of base-only and mixed-adapter traffic per engine: the day's own (``engine``), then each
    other engine that served the same adapters."""
    rows = [{"engine": engine, **r.model_dump()} for r in result.steps.mixed_traffic or []]
    for other in (result.steps.sglang_multi_lora, result.steps.vllm_multi_lora):
        if other is not None:
            rows += [{"engine": other.engine, **r.model_dump()} for r in other.mixed_traffic]
    return pd.DataFrame(rows)


def plot_day6(frame: pd.DataFrame) -> plt.Figure:
    shown = frame[frame.traffic.isin(["base only", "uniform over adapters"])]
    table = shown.pivot_table(index="engine", columns="traffic", values="output_tok_s")
    ax = table.plot.bar(rot=0, figsize=(7, 4))
    ax.set(title="Output throughput: the base model alone vs traffic spread over the adapters", ylabel="tokens/s")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(title=None, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)  # below: never over a bar
    ax.figure.tight_layout()
    return ax.figure


def section(title: str, source: Path | str, chart: plt.Figure, frame: pd.DataFrame) -> dict[str, str]:
    return {"title": title, "source": str(source), "chart": figure_png(chart),
            "table": frame.to_html(index=False, classes="numbers", border=0, na_rep="")}  # fmt: skip


def render(day3: Path | None, day6: Path | None, path: Path, engine: str,
           day2: dict[str, Path] | None = None) -> Path:  # fmt: skip
    """The page at ``path`` (a reference's ``compare-days.html``, which its front page links); ``engine`` is the
    run's own engine (its manifest's), whose Day 6 rows carry no name; ``day2``: engine -> its Day 2 metrics."""
    sections = []
    if day2:
        frame = day2_frame({name: load_day_result(p) for name, p in day2.items()})  # type: ignore[misc]
        sources = ", ".join(str(p) for p in day2.values())
        sections.append(section("Day 2: speculative decoding on each engine", sources, plot_day2(frame),
                                frame.round(2)))  # fmt: skip
    if day3 is not None:
        frame = day3_frame(load_day_result(day3))  # type: ignore[arg-type]
        sections.append(section("Day 3: structured output and prefix caching", day3, plot_day3(frame), frame.round(3)))
    if day6 is not None:
        frame = day6_frame(load_day_result(day6), engine)  # type: ignore[arg-type]
        sections.append(section("Day 6: the same adapters on each engine", day6, plot_day6(frame), frame.round(1)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scrub_html(render_template("days_compare.html.j2", sections=sections)))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Engines overlaid on Days 3 and 6 of one run")
    parser.add_argument("--day2", nargs="+", metavar="ENGINE=DAY02_METRICS", help="each engine's Day 2")
    parser.add_argument("--day3", type=Path, help="a day03/metrics.json with several engines' rows")
    parser.add_argument("--day6", type=Path, help="a day06/metrics.json with another engine's adapters")
    parser.add_argument("--engine", required=True, help="the run's own engine (its manifest's `engine`)")
    parser.add_argument("--out", type=Path, required=True, help="the page, e.g. reference/<run>/compare-days.html")
    args = parser.parse_args(argv)
    day2 = {k: Path(v) for k, v in (pair.split("=", 1) for pair in args.day2 or [])}
    if not (day2 or args.day3 or args.day6):
        parser.error("give --day2, --day3 or --day6")
    print(render(args.day3, args.day6, args.out, args.engine, day2))


if __name__ == "__main__":
    main()
