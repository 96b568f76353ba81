"""Engines side by side on Days 3 and 6: one chart per comparison, every engine overlaid, from one run's files.

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
from playbook.reports.plots import figure_png
from playbook.reports.results import Day3Result, Day6Result, load_day_result


def day3_frame(result: Day3Result) -> pd.DataFrame:
    """The structured rows at each engine's highest concurrency, and the shared-prefix rows, one line each."""
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


def section(title: str, source: Path, chart: plt.Figure, frame: pd.DataFrame) -> dict[str, str]:
    return {"title": title, "source": str(source), "chart": figure_png(chart),
            "table": frame.to_html(index=False, classes="numbers", border=0, na_rep="")}  # fmt: skip


def render(day3: Path | None, day6: Path | None, path: Path, engine: str) -> Path:
    """The page at ``path`` (a reference's ``compare-days.html``, which its front page links); ``engine`` is the
    run's own engine (its manifest's), whose Day 6 rows carry no name."""
    sections = []
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
    parser.add_argument("--day3", type=Path, help="a day03/metrics.json with several engines' rows")
    parser.add_argument("--day6", type=Path, help="a day06/metrics.json with another engine's adapters")
    parser.add_argument("--engine", required=True, help="the run's own engine (its manifest's `engine`)")
    parser.add_argument("--out", type=Path, required=True, help="the page, e.g. reference/<run>/compare-days.html")
    args = parser.parse_args(argv)
    if args.day3 is None and args.day6 is None:
        parser.error("give --day3, --day6 or both")
    print(render(args.day3, args.day6, args.out, args.engine))


if __name__ == "__main__":
    main()
