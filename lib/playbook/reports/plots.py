"""Small plotting helpers shared by the days' figures."""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter


def concurrency_axis(ax: plt.Axes, levels: Iterable[int]) -> None:
    """A log x axis labelled with the measured concurrency levels as plain numbers (not 10^x)."""
    ax.set_xscale("log")
    ax.set_xticks(list(levels))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
