"""The highest request rate a server sustains within its SLOs: capacity as teams size it, in requests per second.

A closed loop asks how N requests in flight behave; traffic does not wait for the server. Here requests arrive
open-loop (Poisson, optionally bursty), and a rate is *sustained* when the share of requests that meet the SLOs
(goodput) stays at or above ``goodput_min``. Past capacity the queue grows for as long as the step lasts, TTFT with
it, and goodput falls. The search doubles the rate from ``start_rate`` until a step fails, then bisects between the
last rate that held and the first that did not, until they are within ``resolution`` of each other, ``max_steps``
ran, or ``budget_s`` is spent. Every step keeps its records (``rate-<k>/``), so the answer can be checked.

    playbook ratesweep --base-url URL --model NAME --slo-ttft-ms 2000 --slo-tpot-ms 50 --start-rate 1
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from playbook.core.fileio import write_json_atomic
from playbook.load.datasets import SampleRequest
from playbook.load.loadgen import LoadConfig, run_load
from playbook.serving.endpoint import Endpoint


class RateSearchSettings(BaseModel):
    """One search. Validated before anything is sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slo_ttft_ms: float | None = Field(None, gt=0, description="A request meets the SLO only with TTFT at or under.")
    slo_tpot_ms: float | None = Field(None, gt=0, description="... and TPOT at or under (either may be left out).")
    goodput_min: float = Field(0.9, gt=0, le=1, description="Share of requests that must meet the SLOs.")
    start_rate: float = Field(1.0, gt=0, description="First rate tried, requests/s (below capacity is best).")
    step_s: float = Field(20.0, gt=0, description="Seconds of arrivals each step sends.")
    min_requests: int = Field(16, ge=1, description="Fewest requests a step sends (low rates).")
    max_requests: int = Field(2000, ge=1, description="Most requests a step sends (high rates).")
    max_steps: int = Field(8, ge=2, description="Steps at most, doubling and bisecting together.")
    resolution: float = Field(
        0.15, gt=0, description="Stop once the first failing rate is this close to the last held."
    )
    budget_s: float = Field(600.0, gt=0, description="Stop starting steps after this many seconds.")
    burstiness: float = Field(1.0, gt=0, description="Gamma shape of the gaps: 1 Poisson, < 1 burstier.")
    concurrency_cap: int = Field(4096, ge=1, description="In flight at most (the client's, not the server's).")
    seed: int = 0

    @model_validator(mode="after")
    def _needs_an_slo(self) -> RateSearchSettings:
        if self.slo_ttft_ms is None and self.slo_tpot_ms is None:
            raise ValueError("give slo_ttft_ms or slo_tpot_ms: a sustained rate is one whose requests meet an SLO")
        return self


@dataclass(frozen=True)
class RateStep:
    offered_rps: float
    requests: int
    ok: int
    achieved_rps: float
    goodput: float | None
    sustained: bool
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    tpot_p50_ms: float | None
    e2e_p50_ms: float | None
    output_tok_s: float


@dataclass(frozen=True)
class RateSearch:
    steps: list[RateStep]
    max_sustained_rps: float | None  # None: not even the start rate held
    first_failed_rps: float | None  # None: no step failed (the search never found the limit)
    ended: str
    # What "sustained" meant, so a reader (the selection's cost) can say it and compare it with its own SLOs.
    slo_ttft_ms: float | None = None
    slo_tpot_ms: float | None = None
    goodput_min: float | None = None


def requests_for(settings: RateSearchSettings, rate: float) -> int:
    return min(settings.max_requests, max(settings.min_requests, math.ceil(rate * settings.step_s)))


def next_rate(held: float | None, failed: float | None, current: float) -> float:
    """Double until a step fails; halve until one holds; then the midpoint of the two."""
    if failed is None:
        return current * 2
    if held is None:
        return current / 2
    return (held + failed) / 2


def find_max_rate(endpoint: Endpoint, settings: RateSearchSettings, take: Callable[[int], list[SampleRequest]],
                  out_dir: Path) -> RateSearch:  # fmt: skip
    """The search; ``take(n)`` hands out ``n`` prompts never sent before (a ``PromptPool``'s ``take``), and
    ``ratesweep.json`` is rewritten after every step."""
    started, steps = time.monotonic(), []
    held = failed = None
    rate = settings.start_rate
    ended = f"max_steps ({settings.max_steps}) ran"
    for index in range(settings.max_steps):
        if time.monotonic() - started > settings.budget_s:
            ended = f"the time budget ({settings.budget_s:.0f} s) was spent"
            break
        step = run_step(endpoint, settings, rate, take, Path(out_dir) / f"rate-{index + 1}")
        steps.append(step)
        if step.sustained:
            held = max(held or 0.0, rate)
        else:
            failed = min(failed or math.inf, rate)
        write_json_atomic(Path(out_dir) / "ratesweep.json", searched(settings, steps, held, failed, "running"))
        if held is not None and failed is not None and failed / held <= 1 + settings.resolution:
            ended = f"the limit lies between {held:.3g} and {failed:.3g} requests/s (within {settings.resolution:.0%})"
            break
        rate = next_rate(held, failed, rate)
    search = searched(settings, steps, held, failed, ended)
    write_json_atomic(Path(out_dir) / "ratesweep.json", search)
    return search


def searched(settings: RateSearchSettings, steps: list[RateStep], held: float | None, failed: float | None,
             ended: str) -> RateSearch:  # fmt: skip
    return RateSearch(list(steps), held, failed, ended, settings.slo_ttft_ms, settings.slo_tpot_ms,
                      settings.goodput_min)  # fmt: skip


def run_step(endpoint: Endpoint, settings: RateSearchSettings, rate: float,
             take: Callable[[int], list[SampleRequest]], out_dir: Path) -> RateStep:  # fmt: skip
    config = LoadConfig(mode="open", request_rate=rate, arrival="poisson", burstiness=settings.burstiness,
                        concurrency=settings.concurrency_cap, slo_ttft_ms=settings.slo_ttft_ms,
                        slo_tpot_ms=settings.slo_tpot_ms, seed=settings.seed, scrape_interval_s=None)  # fmt: skip
    result = run_load(endpoint, config, take(requests_for(settings, rate)), out_dir, desc=f"{rate:.3g} req/s")
    s = result.summary
    goodput = result.goodput_share
    return RateStep(rate, s.requests, s.successes, s.request_throughput_rps, goodput,
                    goodput is not None and goodput >= settings.goodput_min, s.ttft.p50_ms, s.ttft.p99_ms,
                    s.tpot.p50_ms, s.e2e.p50_ms, s.output_throughput_tok_s)  # fmt: skip


def format_search(search: RateSearch) -> str:
    lines = ["offered req/s  achieved  ok/sent  goodput  TTFT p50/p99 ms    TPOT p50 ms  sustained"]
    for st in sorted(search.steps, key=lambda x: x.offered_rps):
        good = f"{st.goodput:.0%}" if st.goodput is not None else "n/a"
        ttft = f"{st.ttft_p50_ms or 0:,.0f} / {st.ttft_p99_ms or 0:,.0f}"
        lines.append(f"{st.offered_rps:>13.3g}  {st.achieved_rps:>8.3g}  {st.ok:>3}/{st.requests:<4} {good:>7}  "
                     f"{ttft:>16}  {st.tpot_p50_ms or 0:>11.1f}  {'yes' if st.sustained else 'NO'}")  # fmt: skip
    best = f"{search.max_sustained_rps:.3g} requests/s" if search.max_sustained_rps else "none of the rates tried"
    return "\n".join([*lines, f"max sustained: {best} ({search.ended})"])


def plot_search(search: RateSearch, settings: RateSearchSettings):  # -> matplotlib Figure
    """Latency against the offered rate, the SLO lines drawn, the sustained steps filled."""
    import matplotlib.pyplot as plt

    steps = sorted(search.steps, key=lambda x: x.offered_rps)
    fig, (ttft, tpot) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, slo, title in ((ttft, "ttft_p99_ms", settings.slo_ttft_ms, "TTFT p99"),
                                (tpot, "tpot_p50_ms", settings.slo_tpot_ms, "TPOT p50")):  # fmt: skip
        for st in steps:
            value = getattr(st, key)
            if value is not None:
                ax.plot(st.offered_rps, value, "o", color="#137333" if st.sustained else "#b3261e",
                        fillstyle="full" if st.sustained else "none")  # fmt: skip
        if slo is not None:
            ax.axhline(slo, color="#555", linestyle="--", label=f"SLO {slo:g} ms")
            ax.legend()
        ax.set(title=title, xlabel="offered requests/s", ylabel="ms", xscale="log")
        ax.grid(alpha=0.3)
    return fig
