"""Day 7: a concurrency sweep and one run at 1000 concurrent requests, with plots.

Each level is one closed-loop run of the load generator into its own folder
(``c0001/``, ``c0008/``, ...), so a level that dies keeps its records and the next
levels still run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from playbook.core.profiles import Day7Settings
from playbook.load.baseline import BaselineIdentity
from playbook.load.datasets import SampleRequest
from playbook.load.loadgen import EndpointUnreachable, LoadResult
from playbook.load.ratesweep import RateSearch, RateSearchSettings, find_max_rate
from playbook.load.rounds import level_rows
from playbook.load.sweep import (
    LevelResult,
    PromptPool,
    as_pool,
    extension_stop,
    planned_levels,
    ramp_for,
    requests_per_level,
    run_level,
    unreachable_level,
)
from playbook.reports import layout
from playbook.reports.plots import concurrency_axis
from playbook.serving.endpoint import Endpoint


def sweep(
    endpoint: Endpoint,
    settings: Day7Settings,
    pool: PromptPool | list[SampleRequest],
    out_dir: Path,
    seed: int,
    expected_share: float | None = None,
) -> list[LevelResult]:
    """Each level in turn, ``settings.rounds`` times, each round on prompts no earlier round or level sent;
    with ``extend_to_knee``, doubles on past the listed levels until :func:`sweep_end` finds the knee, a broken
    SLO or the ceiling. Stops after a level that did not end ``ok`` (a server that died mid-level cannot serve the
    next one),
    keeping every level measured so far. A server gone before a later level starts ends the sweep the same
    way; one unreachable at the first level is an error (wrong address). With ``settings.ramp``, a level's
    slots start spread over the previous level's mean request time."""
    pool = as_pool(pool, settings)  # one pool for every level and round
    levels: list[LevelResult] = []
    for c in planned_levels(settings):
        if c not in settings.sweep_concurrency and extension_stop(settings, level_rows([lv.row() for lv in levels])):
            break
        n = requests_per_level(settings, c)
        for r in range(1, settings.rounds + 1):
            folder = out_dir / (f"c{c:04d}" if r == 1 else f"c{c:04d}-r{r}")
            try:
                levels.append(run_level(endpoint, settings, c, n, pool, folder, seed + r - 1,
                                        ramp_for(settings, c, levels), expected_share, r))  # fmt: skip
            except EndpointUnreachable as exc:
                if not levels:
                    raise
                levels.append(unreachable_level(c, n, str(exc)))
            if levels[-1].result.status != "ok":
                return levels
    return levels


def sweep_end(settings: Day7Settings, levels: list[LevelResult]) -> str:
    """How the sweep ended, in words: at its listed levels, or where extending it stopped and why."""
    rows = level_rows([lv.row() for lv in levels])
    if not settings.extend_to_knee:
        return f"the listed levels {list(settings.sweep_concurrency)} (extend_to_knee off)"
    reason = extension_stop(settings, rows)
    highest = rows[-1]["concurrency"] if rows else None
    if reason:
        return reason
    if highest is not None and highest * 2 > settings.max_concurrency:
        return f"the ceiling max_concurrency={settings.max_concurrency} reached at c={highest}, no knee before it"
    return f"stopped at c={highest}"


def judge_level(ctx: Any, label: str, result: LoadResult, kept_earlier: bool = False) -> None:
    """ok: a PASS; cut short with answers kept (in this level, or in the levels before it): the day is
    partial; nothing answered at all: a failure."""
    s = result.summary
    message = f"{label}: {s.successes}/{s.requests} ok ({result.status}{': ' + result.error if result.error else ''})"
    if result.status != "ok" and (s.successes or kept_earlier):
        ctx.partial(message + ("; the completed requests are kept" if s.successes else "; earlier levels are kept"))
    else:
        ctx.check(result.status == "ok", message)


def table(levels: list[LevelResult]) -> pd.DataFrame:
    """One row a level: with several rounds, the median round's numbers, how many rounds, and the spread of
    throughput and TPOT across them (``rounds.level_rows``)."""
    return pd.DataFrame(level_rows([lv.row() for lv in levels])).set_index("concurrency")


def plot_latency(frame: pd.DataFrame) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for column, style in (("ttft_p50_ms", "o-"), ("ttft_p95_ms", "s--"), ("ttft_p99_ms", "^:")):
        axes[0].plot(frame.index, frame[column], style, label=column.split("_")[1].upper())
    for column, style in (("e2e_p50_ms", "o-"), ("e2e_p95_ms", "s--"), ("e2e_p99_ms", "^:")):
        axes[1].plot(frame.index, frame[column], style, label=column.split("_")[1].upper())
    for ax, title in zip(axes, ("TTFT", "End-to-end latency"), strict=True):
        ax.set(xscale="log", yscale="log", xlabel="concurrent requests", ylabel="ms", title=title)
        concurrency_axis(ax, frame.index)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_throughput(frame: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(frame.index, frame["output_tok_s"], "o-")
    knee = knee_concurrency(frame)
    if knee is not None:
        ax.axvline(knee, color="gray", ls="--", label=f"knee ≈ {knee}")
        ax.legend()
    ax.set(xscale="log", xlabel="concurrent requests", ylabel="output tokens/s", title="Throughput vs concurrency")
    concurrency_axis(ax, frame.index)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def knee_concurrency(frame: pd.DataFrame, gain: float = 1.1) -> int | None:
    """First level after which doubling-ish concurrency adds < 10 % throughput."""
    values = frame["output_tok_s"].dropna()
    for (c, tput), (_, nxt) in zip(values.items(), list(values.items())[1:], strict=False):
        if tput > 0 and nxt / tput < gain:
            return int(c)
    return None


def baseline_identity(
    profile_name: str, model: str, engine: str, engine_version: str | None, settings: Day7Settings
) -> BaselineIdentity:
    """What a baseline must share with a run to be compared with it (``playbook.load.baseline``)."""
    return BaselineIdentity(profile=profile_name, model=model, engine=engine,
                            engine_version=engine_version or "unknown", workload=peak_workload(settings))  # fmt: skip


def peak_workload(settings: Day7Settings) -> str:
    """The 1000-concurrent run's workload in words: a baseline of other prompt lengths is not comparable."""
    if settings.dataset == "sharegpt":
        lengths = f"prompts up to {settings.max_prompt_tokens} tokens, outputs up to {settings.output_tokens}"
    else:
        lengths = f"{settings.input_tokens} in / {settings.output_tokens} out"
    return f"{settings.dataset}, {lengths}, {settings.peak_requests} requests at c={settings.peak_concurrency}"


def slo_text(settings: Day7Settings) -> str:
    """The SLOs the goodput counts against, or that none is set (never "≤ None ms")."""
    slos = [f"{name} ≤ {value:g} ms" for name, value in (("TTFT", settings.slo_ttft_ms), ("TPOT", settings.slo_tpot_ms))
            if value is not None]  # fmt: skip
    return (
        "SLOs " + ", ".join(slos) if slos else "no SLO set (days.day7.slo_ttft_ms / slo_tpot_ms): goodput not computed"
    )


def baseline_path(outputs_root: Path, profile_name: str) -> Path:
    """Where this profile's Day 7 baseline is kept (the layout module decides)."""
    return layout.baseline_path(outputs_root, profile_name)


def rate_settings(settings: Day7Settings, start_rate: float, seed: int) -> RateSearchSettings:
    """The rate search this profile asks for: its own SLOs where it sets them, else the day's."""
    return RateSearchSettings(
        slo_ttft_ms=settings.rate_slo_ttft_ms or settings.slo_ttft_ms,
        slo_tpot_ms=settings.rate_slo_tpot_ms or settings.slo_tpot_ms, goodput_min=settings.rate_goodput_min,
        start_rate=start_rate, step_s=settings.rate_step_s, min_requests=settings.min_requests_per_level,
        max_requests=settings.rate_max_requests, max_steps=settings.rate_max_steps,
        concurrency_cap=settings.max_concurrency, seed=seed,
    )  # fmt: skip


def start_rate(levels: list[LevelResult]) -> float:
    """Half the best request rate the closed-loop sweep reached: below capacity, so the search's first step holds
    and doubling finds the limit in a few steps."""
    rates = [lv.result.summary.request_throughput_rps for lv in levels if lv.result.summary.successes]
    return max(rates) / 2 if rates and max(rates) > 0 else 1.0


def rate_search(endpoint: Endpoint, settings: Day7Settings, pool: PromptPool, levels: list[LevelResult],
                out_dir: Path, seed: int) -> tuple[RateSearch, RateSearchSettings]:  # fmt: skip
    """The highest open-loop rate whose goodput holds, from half the sweep's best rate, on the pool's own prompts
    (never one the sweep sent); each step in ``out_dir/rate/rate-<k>/``."""
    search_settings = rate_settings(settings, start_rate(levels), seed)
    return find_max_rate(endpoint, search_settings, pool.take, Path(out_dir) / "rate"), search_settings
