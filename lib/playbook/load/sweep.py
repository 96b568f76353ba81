"""One closed-loop level of a concurrency sweep: requests, config, run, result.

Day 7's sweep, Day 5's GPU-sharing measurement and the multi-GPU benchmark all run
levels the same way, each level into its own folder (``c0001/``, ``c0008/``, ...), so
a level that dies keeps its records and the next level still runs.

Every level draws prompts no earlier level sent (:class:`PromptPool`), its warm-up sends
prompts of its own, and the server's prefix-cache counters are read around it: the level's
row carries its hit rate and whether it was ``contaminated`` (``playbook.load.cache``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbook.core.errors import PlaybookError
from playbook.core.fileio import utc_now
from playbook.core.profiles import Day7Settings
from playbook.load.cache import CacheUse, measured_use, read_counters
from playbook.load.datasets import SampleRequest, build_requests
from playbook.load.loadgen import LoadConfig, LoadResult, read_records, run_load
from playbook.load.metrics import Distribution, LatencySummary, steady_state, summarize
from playbook.serving.endpoint import Endpoint


class PromptPool:
    """Distinct requests, each handed out once: a level takes the next ``n`` and never meets a prompt an earlier
    level (or round) sent. Running out is an error naming the fix, never a silent wrap-around that would re-send
    prompts as cache hits. A ``shared`` pool (a workload declared shared) may wrap."""

    def __init__(self, samples: list[SampleRequest], shared: bool = False):
        self.samples, self.shared, self.used = list(samples), shared, 0

    def take(self, n: int) -> list[SampleRequest]:
        if self.shared:
            taken = [self.samples[(self.used + i) % len(self.samples)] for i in range(n)]
        elif self.used + n > len(self.samples):
            raise PlaybookError(
                f"the prompt pool holds {len(self.samples)} distinct requests and {self.used} are sent: {n} more "
                "would re-send prompts (cache hits); size it with sweep.pool_size"
            )
        else:
            taken = self.samples[self.used : self.used + n]
        self.used += n
        return taken


@dataclass(frozen=True)
class LevelResult:
    """One level (one round of it). ``steady`` is the steady-state window of a run of several waves (None for a
    single burst); the level's row reports it, and says so, because the whole run's numbers mix in the opening
    burst and the closing drain. ``cache`` is what the server answered from its prefix cache during it."""

    concurrency: int
    requests: int
    result: LoadResult
    steady: LatencySummary | None = None
    cache: CacheUse | None = None
    ramp_s: float | None = None
    round: int = 1

    @property
    def waves(self) -> float:
        """Requests sent per slot: 1 is one burst; the sweep asks for ``waves_per_level``."""
        return self.requests / self.concurrency

    def row(self) -> dict[str, Any]:
        s = self.steady or self.result.summary
        latency = s.row("ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms",
                        "e2e_p50_ms", "e2e_p95_ms", "e2e_p99_ms", "output_tok_s", "req_s")  # fmt: skip
        per_request = s.output_throughput_tok_s / s.request_throughput_rps if s.request_throughput_rps else None
        in_flight = s.request_throughput_rps * s.e2e.mean_ms / 1000 if s.e2e.mean_ms is not None else None
        cache = self.cache
        return {"concurrency": self.concurrency, "requests": self.requests, "ok": self.result.summary.successes,
                "status": self.result.status, "waves": round(self.waves, 2),
                "measured": "steady state" if self.steady else "whole run", "measured_requests": s.requests,
                **latency, "total_tok_s": s.total_throughput_tok_s, "output_tokens_per_request": per_request,
                "in_flight_littles_law": in_flight, "start": f"ramp over {self.ramp_s:.1f} s" if self.ramp_s
                else "all at once", "prefix_cache_hit_rate": cache.hit_rate if cache else None,
                "cache_contaminated": cache.contaminated if cache else None, "round": self.round,
                "goodput_share": self.result.goodput_share, "duration_s": s.duration_s}  # fmt: skip


def as_pool(pool: PromptPool | list[SampleRequest], settings: Day7Settings) -> PromptPool:
    """A pool as it is; a plain list as a fresh pool, shared only where the workload is declared shared."""
    return pool if isinstance(pool, PromptPool) else PromptPool(pool, shared=settings.dataset == "shared-prefix")


def requests_for(settings: Day7Settings, n: int, seed: int, tokenizer_dir: str | None) -> list[SampleRequest]:
    sizes = {"input_tokens": settings.input_tokens, "output_tokens": settings.output_tokens,
             "max_prompt_tokens": settings.max_prompt_tokens}  # fmt: skip
    return build_requests(settings.dataset, n, seed, tokenizer_dir, **sizes)


def requests_per_level(settings: Day7Settings, concurrency: int) -> int:
    """Enough requests for ``waves_per_level`` waves: with one wave every request arrives at once and the
    level measures a burst, not a server under a steady load of ``concurrency``."""
    return max(settings.min_requests_per_level, settings.waves_per_level * concurrency)


def level_requests(settings: Day7Settings, concurrency: int) -> int:
    """The sweep's count for a level, the peak run's for the peak level."""
    if concurrency == settings.peak_concurrency:
        return settings.peak_requests
    return requests_per_level(settings, concurrency)


def levels_of(settings: Day7Settings, peak: bool) -> list[int]:
    """The listed sweep levels, and the peak level after them when ``peak``."""
    return list(settings.sweep_concurrency) + ([settings.peak_concurrency] if peak else [])


def pool_size(settings: Day7Settings) -> int:
    """Distinct requests Day 7 sends: every round of every level and the peak run, each its own prompts (a
    repeat would be a prefix-cache hit). Warm-ups send variants of their own (``loadgen.warmup_sample``)."""
    levels = sum(requests_per_level(settings, c) for c in planned_levels(settings))
    rate_search = settings.rate_max_steps * settings.rate_max_requests if settings.rate_sweep else 0
    return levels * settings.rounds + settings.peak_requests + rate_search


def planned_levels(settings: Day7Settings) -> list[int]:
    """The listed levels, then (``extend_to_knee``) doublings of the last up to ``max_concurrency``: the most a
    sweep may run, which the prompt pool is sized for; :func:`extension_stop` ends it at the knee."""
    levels = list(settings.sweep_concurrency)
    while settings.extend_to_knee and levels and levels[-1] * 2 <= settings.max_concurrency:
        levels.append(levels[-1] * 2)
    return levels


def extension_stop(settings: Day7Settings, rows: list[dict[str, Any]]) -> str | None:
    """Why the sweep stops extending past its listed levels, from the level rows so far (one a level, as
    ``rounds.level_rows`` merges them), or None to go on: the last doubling added less than ``knee_gain`` of
    throughput (the knee is the level before it), or the last level broke an SLO (P99 TTFT, P50 TPOT)."""
    if len(rows) < 2:
        return None
    previous, last = rows[-2], rows[-1]
    gain = (last.get("output_tok_s") or 0) / previous["output_tok_s"] if previous.get("output_tok_s") else None
    if gain is not None and gain < settings.knee_gain:
        return (f"knee at c={previous['concurrency']}: c={last['concurrency']} added {100 * (gain - 1):+.0f} % "
                f"throughput (< {100 * (settings.knee_gain - 1):.0f} %)")  # fmt: skip
    for name, column, slo in (("TTFT", "ttft_p99_ms", settings.slo_ttft_ms), ("TPOT", "tpot_p50_ms",
                                                                               settings.slo_tpot_ms)):  # fmt: skip
        if slo is not None and (last.get(column) or 0) > slo:
            return f"SLO broken at c={last['concurrency']}: {name} {last[column]:,.0f} ms > {slo:,.0f} ms"
    return None


def level_config(settings: Day7Settings, concurrency: int, seed: int, ramp_s: float | None = None) -> LoadConfig:
    return LoadConfig(concurrency=concurrency, warmup_requests=settings.warmup_requests,
                      request_timeout_s=settings.request_timeout_s, slo_ttft_ms=settings.slo_ttft_ms,
                      slo_tpot_ms=settings.slo_tpot_ms, seed=seed, ramp_s=ramp_s)  # fmt: skip


def run_level(
    endpoint: Endpoint,
    settings: Day7Settings,
    concurrency: int,
    n: int,
    pool: PromptPool | list[SampleRequest],
    out_dir: Path,
    seed: int,
    ramp_s: float | None = None,
    expected_share: float | None = None,
    round_number: int = 1,
) -> LevelResult:
    """One closed-loop run at ``concurrency`` into ``out_dir``, on the pool's next ``n`` prompts, with the
    server's prefix-cache use around it. A plain list is a fresh pool (its first ``n``)."""
    pool = as_pool(pool, settings)
    config = level_config(settings, concurrency, seed, ramp_s)
    samples = pool.take(n)
    before = read_counters(endpoint)
    result = run_load(endpoint, config, samples, out_dir, desc=f"c={concurrency}")
    cache = measured_use(endpoint, before, expected_share, pool.shared)
    steady = steady_state(read_records(result.requests_path), concurrency) if result.requests_path else None
    return LevelResult(concurrency, n, result, steady, cache, ramp_s, round_number)


def ramp_for(settings: Day7Settings, concurrency: int, earlier: list[LevelResult]) -> float | None:
    """The previous level's mean request time (steady state), over which this level's slots start: about one
    request time, so the first answers arrive spread out. None at c=1, without ``ramp``, or with no earlier level."""
    if not settings.ramp or concurrency == 1 or not earlier or earlier[-1].steady is None:
        return None
    mean_ms = earlier[-1].steady.e2e.mean_ms
    return round(mean_ms / 1000, 2) if mean_ms else None


def unreachable_level(concurrency: int, requests: int, error: str) -> LevelResult:
    """A level that never started: the server was gone before its first request (it died between levels)."""
    result = LoadResult(config={"concurrency": concurrency}, status="partial",
                        error=f"the server was unreachable before this level started: {error}", started_utc=utc_now(),
                        summary=summarize([]), e2e_from_schedule=Distribution.of([]), goodput_share=None,
                        requests_path="", server_metrics_path=None)  # fmt: skip
    return LevelResult(concurrency, requests, result)
