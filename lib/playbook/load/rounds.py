"""Repeated rounds: a median, a spread, and differences that are only differences when they exceed it.

One round of a level is one sample of a noisy process: the same H200 has given one engine's c=256 level 14 %
apart on two rounds. A comparison therefore runs each level several times (``days.day7.rounds``; on a GPU at
least 3, alternating engines where both are up), reports the median round and the spread (lowest to highest),
and calls two engines different only when their rounds do not overlap: a 3 % difference inside a 10 % spread is
"no measurable difference", never a winner.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

MIN_ROUNDS = 3  # fewer: the spread is not known well enough to call anything a win


@dataclass(frozen=True)
class Spread:
    """One metric over the rounds of one level."""

    median: float
    low: float
    high: float
    rounds: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Spread | None:
        data = [float(v) for v in values if v is not None]
        return cls(statistics.median(data), min(data), max(data), len(data)) if data else None

    @property
    def spread_pct(self) -> float | None:
        """(highest - lowest) / median, in percent; None for one round."""
        return 100 * (self.high - self.low) / self.median if self.rounds > 1 and self.median else None


Verdict = Literal["better", "worse", "no measurable difference", "spread unknown"]


@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b`` on one metric."""

    metric: str
    a: Spread
    b: Spread
    difference_pct: float  # (a - b) / b
    verdict: Verdict  # from a's side, with higher_is_better applied

    def sentence(self, a_name: str, b_name: str) -> str:
        sign = f"{self.difference_pct:+.1f} %"
        if self.verdict == "no measurable difference":
            return (f"no measurable difference in {self.metric}: {a_name} {sign} vs {b_name}, inside the spread of "
                    f"their rounds ({_range(self.a)} vs {_range(self.b)})")  # fmt: skip
        if self.verdict == "spread unknown":
            return (f"{self.metric}: {a_name} {sign} vs {b_name} from {min(self.a.rounds, self.b.rounds)} round(s): "
                    f"not a measured difference until {MIN_ROUNDS} rounds each give its spread")  # fmt: skip
        return (f"{a_name} is {self.verdict} in {self.metric}: {sign} vs {b_name}, outside the spread of their rounds "
                f"({_range(self.a)} vs {_range(self.b)})")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _range(s: Spread) -> str:
    return f"{_number(s.low)}-{_number(s.high)} over {s.rounds}"


def _number(value: float) -> str:
    """Four significant digits without an exponent: 10,384 and 7.422, never 1.038e+04."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def compare(metric: str, a: Spread, b: Spread, higher_is_better: bool = True) -> Comparison:
    """A winner only when each side ran ``MIN_ROUNDS`` rounds and their rounds do not overlap."""
    difference = 100 * (a.median - b.median) / b.median if b.median else 0.0
    if min(a.rounds, b.rounds) < MIN_ROUNDS:
        verdict: Verdict = "spread unknown"
    elif a.low <= b.high and b.low <= a.high:
        verdict = "no measurable difference"
    else:
        verdict = "better" if (a.median > b.median) == higher_is_better else "worse"
    return Comparison(metric, a, b, difference, verdict)


SPREAD_COLUMNS = ("output_tok_s", "tpot_p50_ms", "ttft_p99_ms")
WORST_STATUS = ("partial", "ok")


def level_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per concurrency from one row per round: every number the median over the rounds, ``rounds``, and
    ``<column>_low`` / ``_high`` / ``_spread_pct`` for throughput, TPOT and P99 TTFT. A level with one round is
    its round's row with ``rounds: 1``. The status is the worst round's; a level is contaminated if any round
    was."""
    by_level: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_level.setdefault(row["concurrency"], []).append(row)
    merged = []
    for concurrency, group in by_level.items():
        out = dict(group[0]) if len(group) == 1 else _median_row(group)
        out["concurrency"], out["rounds"] = concurrency, len(group)
        out.pop("round", None)
        for column in SPREAD_COLUMNS:
            spread = Spread.of([r.get(column) for r in group])
            if spread is not None and len(group) > 1:
                out |= {f"{column}_low": spread.low, f"{column}_high": spread.high,
                        f"{column}_spread_pct": spread.spread_pct}  # fmt: skip
        merged.append(out)
    return merged


def _median_row(group: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in group[0]:
        values = [r.get(key) for r in group]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if key == "status":
            out[key] = min(values, key=lambda v: WORST_STATUS.index(v) if v in WORST_STATUS else -1)
        elif key == "cache_contaminated":
            judged = [v for v in values if v is not None]
            out[key] = any(judged) if judged else None
        elif numbers and len(numbers) == len([v for v in values if v is not None]):
            out[key] = statistics.median(numbers)
        else:
            out[key] = values[0]
    return out


def spread_of(row: Any, column: str = "output_tok_s") -> Spread | None:
    """A level row's spread of one column (a SweepRow or its dict), as :func:`level_rows` wrote it."""
    get = row.get if isinstance(row, dict) else (lambda k, d=None: getattr(row, k, d))
    median = get(column)
    if median is None:
        return None
    rounds = get("rounds") or 1
    return Spread(median, get(f"{column}_low") or median, get(f"{column}_high") or median, rounds)


# Metrics an engine comparison reports per level, and which way is better.
COMPARED = (("output_tok_s", True), ("tpot_p50_ms", False), ("ttft_p99_ms", False))


def summarize(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Per engine, one row a level (median and spread over its rounds); per level, the first engine against
    each other one on every compared metric, as a verdict and a sentence."""
    per_engine = {name: level_rows([r for r in rows if r["engine"] == name]) for name in names}
    comparisons = []
    first, others = names[0], names[1:]
    for row_a in per_engine[first]:
        for other in others:
            row_b = next((r for r in per_engine[other] if r["concurrency"] == row_a["concurrency"]), None)
            if row_b is not None:
                comparisons += _level_comparisons(row_a, row_b, first, other)
    return {"levels": per_engine, "comparisons": comparisons, "min_rounds": MIN_ROUNDS}


def _level_comparisons(row_a: dict, row_b: dict, a: str, b: str) -> list[dict[str, Any]]:
    found = []
    for metric, higher_is_better in COMPARED:
        sa, sb = spread_of(row_a, metric), spread_of(row_b, metric)
        if sa is None or sb is None:
            continue
        result = compare(metric, sa, sb, higher_is_better)
        found.append({"concurrency": row_a["concurrency"], "a": a, "b": b, **result.to_dict(),
                      "sentence": result.sentence(a, b)})  # fmt: skip
    return found
