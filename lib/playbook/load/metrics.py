"""Latency statistics: percentiles and summaries as typed results with units in names."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from playbook.load.client import RequestRecord

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class Distribution:
    """Mean and percentiles of one latency, in milliseconds."""

    count: int
    mean_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Distribution:
        data = np.asarray([v for v in values if v is not None], dtype=float)
        if data.size == 0:
            return cls(0, None, None, None, None, None)
        p50, p90, p95, p99 = (float(x) for x in np.percentile(data, PERCENTILES))
        return cls(int(data.size), float(data.mean()), p50, p90, p95, p99)


@dataclass(frozen=True)
class LatencySummary:
    requests: int
    successes: int
    errors_by_kind: dict[str, int]
    duration_s: float
    ttft: Distribution
    tpot: Distribution
    itl: Distribution
    e2e: Distribution
    request_throughput_rps: float
    output_throughput_tok_s: float
    total_throughput_tok_s: float
    retried_successes: int = 0  # succeeded only after a retry: apart from first-try success

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format_text(self) -> str:
        """A plain-text table for terminals and logs."""
        lines = [
            f"{self.successes}/{self.requests} ok"
            + (f" ({self.retried_successes} only after retries)" if self.retried_successes else "")
            + f" in {self.duration_s:.1f} s; "
            f"output {self.output_throughput_tok_s:.1f} tok/s, {self.request_throughput_rps:.2f} req/s",
            f"{'':12s}{'mean':>10s}{'p50':>10s}{'p90':>10s}{'p95':>10s}{'p99':>10s}",
        ]
        for row in self.table_rows():
            values = (row[k] for k in ("mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms"))
            lines.append(f"{row['metric']:12s}" + "".join("       n/a" if v is None else f"{v:10.1f}" for v in values))
        if self.errors_by_kind:
            lines.append(f"errors: {self.errors_by_kind}")
        return "\n".join(lines)

    def row(self, *columns: str) -> dict[str, Any]:
        """The summary as one flat table row, in the column names every day's tables use (``ttft_p50_ms``,
        ``output_tok_s``, ``req_s``, ``ok``, ...): all of them, or the ``columns`` named, in that order."""
        flat: dict[str, Any] = {
            "requests": self.requests, "ok": self.successes, "duration_s": self.duration_s,
            "output_tok_s": self.output_throughput_tok_s, "req_s": self.request_throughput_rps,
        }  # fmt: skip
        for name in ("ttft", "tpot", "itl", "e2e"):
            flat |= {f"{name}_{stat}": value for stat, value in asdict(getattr(self, name)).items() if stat != "count"}
        return {c: flat[c] for c in columns} if columns else flat

    def table_rows(self) -> list[dict[str, Any]]:
        """One row per metric, for a pandas DataFrame in a report."""
        rows = []
        for name in ("ttft", "tpot", "itl", "e2e"):
            dist: Distribution = getattr(self, name)
            rows.append({"metric": f"{name.upper()} (ms)", **{k: v for k, v in asdict(dist).items()}})
        return rows


def summarize(records: Sequence[RequestRecord], duration_s: float | None = None) -> LatencySummary:
    """Summary over finished requests; throughput uses the wall span of the requests."""
    ok = [r for r in records if r.success]
    if duration_s is None:
        starts = [r.start_unix_s for r in records]
        ends = [r.start_unix_s + (r.e2e_ms or 0) / 1000 for r in records]
        duration_s = (max(ends) - min(starts)) if records else 0.0
    out_tokens = sum(r.completion_tokens or 0 for r in ok)
    in_tokens = sum(r.prompt_tokens or 0 for r in ok)
    per_s = (lambda x: x / duration_s) if duration_s > 0 else (lambda x: 0.0)
    return LatencySummary(
        requests=len(records),
        successes=len(ok),
        errors_by_kind=dict(Counter(r.error_kind for r in records if not r.success)),
        duration_s=duration_s,
        ttft=Distribution.of(r.ttft_ms for r in ok),
        tpot=Distribution.of(r.tpot_ms for r in ok),
        itl=Distribution.of(x for r in ok for x in r.itl_ms),
        e2e=Distribution.of(r.e2e_ms for r in ok),
        request_throughput_rps=per_s(len(ok)),
        output_throughput_tok_s=per_s(out_tokens),
        total_throughput_tok_s=per_s(out_tokens + in_tokens),
        retried_successes=sum(1 for r in ok if r.attempts > 1),
    )


def token_times(record: RequestRecord) -> list[tuple[float, float]]:
    """(arrival time, tokens) of each streamed chunk: the first at TTFT, the rest at the inter-token gaps.
    A chunk may carry several tokens; the completion's tokens are spread evenly over its chunks."""
    if not record.success or record.ttft_ms is None:
        return []
    t = record.start_unix_s + record.ttft_ms / 1000
    times = [t]
    for gap in record.itl_ms:
        t += gap / 1000
        times.append(t)
    per_chunk = (record.completion_tokens or len(times)) / len(times)
    return [(when, per_chunk) for when in times]


def steady_window(records: Sequence[RequestRecord], concurrency: int) -> tuple[float, float] | None:
    """(opens, closes) of the part of a closed-loop run in which ``concurrency`` requests really were in flight.

    It opens once every slot has started its first request (the first ``concurrency`` request ids: all at once,
    or spread by a ramp) and the loop has recycled (the first request has finished), so neither an opening burst
    nor a half-filled ramp is in it. It closes at the last start: after it the loop drains. None when the run
    has no such window (one wave, e.g. 1000 sent at once)."""
    if len(records) <= concurrency + 1:
        return None
    first_wave = [r.start_unix_s for r in records if r.request_id < concurrency]
    ends = [r.start_unix_s + r.e2e_ms / 1000 for r in records if r.e2e_ms is not None]
    if not first_wave or not ends:
        return None
    opens, closes = max(max(first_wave), min(ends)), max(r.start_unix_s for r in records)
    return (opens, closes) if closes > opens else None


def steady_state(records: Sequence[RequestRecord], concurrency: int) -> LatencySummary | None:
    """The closed-loop run's numbers inside its steady window (:func:`steady_window`).

    Why one definition for every rate: each request counts for the share of its output tokens that arrived
    inside the window, so the request rate, the output tokens/s and the total tokens/s all come from the same
    requests in the same proportions, and ``req_s x mean output tokens = output tok/s`` holds. (Counting every
    request that *finished* inside the window instead counted one wave too many when waves are synchronized:
    1.2-1.5x the token rate in the first steady-state references.) Latencies are those of the requests started
    inside the window."""
    window = steady_window(records, concurrency)
    if window is None:
        return None
    opens, closes = window
    span = closes - opens
    inside = [r for r in records if opens <= r.start_unix_s <= closes]
    tokens = done = prompt = 0.0
    for r in records:
        arrivals = token_times(r)
        total = sum(n for _, n in arrivals)
        here = sum(n for when, n in arrivals if opens <= when < closes)
        if total:
            done += here / total  # the share of this request served inside the window
            prompt += here / total * (r.prompt_tokens or 0)
            tokens += here
    return replace(
        summarize(inside, duration_s=span),
        output_throughput_tok_s=tokens / span,
        request_throughput_rps=done / span,
        total_throughput_tok_s=(tokens + prompt) / span,
    )
