"""Small plotting helpers shared by the days' figures."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter, ScalarFormatter

from playbook.load.loadgen import read_records


def figure_png(fig: plt.Figure) -> str:
    """The figure as base64 PNG, closed: a page that inlines its chart travels as one file."""
    import base64
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def concurrency_axis(ax: plt.Axes, levels: Iterable[int]) -> None:
    """A log x axis labelled with the measured concurrency levels as plain numbers (not 10^x)."""
    ax.set_xscale("log")
    ax.set_xticks(list(levels))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_cdfs(records_paths: dict[str, str]) -> plt.Figure:
    """TTFT and end-to-end latency CDFs of finished requests, one line per records file (Day 7, `playbook loadtest`)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, path in records_paths.items():
        ok = [r for r in read_records(path) if r.success]
        for ax, values in zip(axes, ([r.ttft_ms for r in ok], [r.e2e_ms for r in ok]), strict=True):
            data = np.sort(np.asarray(values, dtype=float))
            if data.size:
                ax.plot(data, np.arange(1, data.size + 1) / data.size, label=label)
    for ax, title in zip(axes, ("TTFT CDF", "End-to-end CDF"), strict=True):
        ax.set(xscale="log", xlabel="ms", ylabel="share of requests", title=title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_server_timeline(metrics_path: str | None) -> plt.Figure | None:
    """Server state during the run, from the scraped /metrics time series."""
    if not metrics_path or not Path(metrics_path).exists():
        return None
    frame = pd.read_json(metrics_path, lines=True)
    if frame.empty or "running" not in frame:
        return None
    t = frame["t_unix_s"] - frame["t_unix_s"].iloc[0]
    fig, ax = plt.subplots(figsize=(11, 3.5))
    ax.plot(t, frame["running"], label="running")
    if "waiting" in frame:
        ax.plot(t, frame["waiting"], label="waiting")
    ax.set(xlabel="seconds", ylabel="requests", title="Server state during the run (/metrics)")
    if "kv_cache_usage" in frame:
        twin = ax.twinx()
        twin.plot(t, frame["kv_cache_usage"] * 100, color="gray", ls="--", label="KV cache %")
        twin.set_ylabel("KV cache used (%)")
        twin.legend(loc="upper right")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig
