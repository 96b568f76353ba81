"""One closed-loop level of a concurrency sweep: requests, config, run, result.

Day 7's sweep, Day 5's GPU-sharing measurement and the multi-GPU benchmark all run
levels the same way, each level into its own folder (``c0001/``, ``c0008/``, ...), so
a level that dies keeps its records and the next level still runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbook.core.fileio import utc_now
from playbook.core.profiles import Day7Settings
from playbook.load.datasets import SampleRequest, build_requests
from playbook.load.loadgen import LoadConfig, LoadResult, read_records, run_load
from playbook.load.metrics import Distribution, LatencySummary, steady_state, summarize
from playbook.serving.endpoint import Endpoint


@dataclass(frozen=True)
class LevelResult:
    """One level. ``steady`` is the steady-state window of a run of several waves (None for a single burst);
    the level's row reports it, and says so, because the whole run's numbers mix in the opening burst and
    the closing drain."""

    concurrency: int
    requests: int
    result: LoadResult
    steady: LatencySummary | None = None

    @property
    def waves(self) -> float:
        """Requests sent per slot: 1 is one burst; the sweep asks for ``waves_per_level``."""
        return self.requests / self.concurrency

    def row(self) -> dict[str, Any]:
        s = self.steady or self.result.summary
        latency = s.row("ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms",
                        "e2e_p50_ms", "e2e_p95_ms", "e2e_p99_ms", "output_tok_s", "req_s")  # fmt: skip
        return {"concurrency": self.concurrency, "requests": self.requests, "ok": self.result.summary.successes,
                "status": self.result.status, "waves": round(self.waves, 2),
                "measured": "steady state" if self.steady else "whole run", "measured_requests": s.requests,
                **latency, "goodput_share": self.result.goodput_share, "duration_s": s.duration_s}  # fmt: skip


def requests_for(settings: Day7Settings, n: int, seed: int, tokenizer_dir: str | None) -> list[SampleRequest]:
    sizes = {"input_tokens": settings.input_tokens, "output_tokens": settings.output_tokens,
             "max_prompt_tokens": settings.max_prompt_tokens}  # fmt: skip
    return build_requests(settings.dataset, n, seed, tokenizer_dir, **sizes)


def requests_per_level(settings: Day7Settings, concurrency: int) -> int:
    """Enough requests for ``waves_per_level`` waves: with one wave every request arrives at once and the
    level measures a burst, not a server under a steady load of ``concurrency``."""
    return max(settings.min_requests_per_level, settings.waves_per_level * concurrency)


def pool_size(settings: Day7Settings) -> int:
    """Distinct requests Day 7 needs: no level reuses a prompt (a repeat would be a prefix-cache hit)."""
    return max([settings.peak_requests] + [requests_per_level(settings, c) for c in settings.sweep_concurrency])


def level_config(base_url: str, model: str, settings: Day7Settings, concurrency: int, seed: int) -> LoadConfig:
    return LoadConfig(base_url=base_url, model=model, concurrency=concurrency, warmup_requests=settings.warmup_requests,
                      request_timeout_s=settings.request_timeout_s, slo_ttft_ms=settings.slo_ttft_ms,
                      slo_tpot_ms=settings.slo_tpot_ms, seed=seed)  # fmt: skip


def run_level(
    endpoint: Endpoint,
    settings: Day7Settings,
    concurrency: int,
    n: int,
    pool: list[SampleRequest],
    out_dir: Path,
    seed: int,
) -> LevelResult:
    """One closed-loop run at ``concurrency`` into ``out_dir``."""
    config = level_config(endpoint.base_url, endpoint.model, settings, concurrency, seed)
    samples = [pool[i % len(pool)] for i in range(n)]
    result = run_load(config, samples, out_dir, endpoint.api_key, desc=f"c={concurrency}")
    steady = steady_state(read_records(result.requests_path), concurrency) if result.requests_path else None
    return LevelResult(concurrency, n, result, steady)


def unreachable_level(concurrency: int, requests: int, error: str) -> LevelResult:
    """A level that never started: the server was gone before its first request (it died between levels)."""
    result = LoadResult(config={"concurrency": concurrency}, status="partial",
                        error=f"the server was unreachable before this level started: {error}", started_utc=utc_now(),
                        summary=summarize([]), e2e_from_schedule=Distribution.of([]), goodput_share=None,
                        requests_path="", server_metrics_path=None)  # fmt: skip
    return LevelResult(concurrency, requests, result)
