"""Baselines: save a load test's headline numbers, flag later runs that regress.

A baseline is only comparable with a run of the same profile, model, engine version
and workload (dataset, prompt and output lengths, requests and concurrency); anything
else is refused with the differing fields named, since a "delta" across engines, models
or prompt lengths would be a comparison of different things.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from playbook.core.errors import PlaybookError, first_problem
from playbook.core.fileio import utc_now, write_json_atomic
from playbook.load.metrics import LatencySummary

# (label, attribute path into the LatencySummary, higher_is_better)
HEADLINES: tuple[tuple[str, str, bool], ...] = (
    ("TTFT p50 (ms)", "ttft.p50_ms", False),
    ("TTFT p95 (ms)", "ttft.p95_ms", False),
    ("TTFT p99 (ms)", "ttft.p99_ms", False),
    ("TPOT p50 (ms)", "tpot.p50_ms", False),
    ("TPOT p99 (ms)", "tpot.p99_ms", False),
    ("E2E p50 (ms)", "e2e.p50_ms", False),
    ("E2E p95 (ms)", "e2e.p95_ms", False),
    ("E2E p99 (ms)", "e2e.p99_ms", False),
    ("output tok/s", "output_throughput_tok_s", True),
    ("requests/s", "request_throughput_rps", True),
)


class BaselineIdentity(BaseModel):
    """What a baseline must share with a run to be compared with it. Day 7 records it for every run, so a
    baseline saved from any run knows what it measured."""

    model_config = ConfigDict(frozen=True)

    profile: str
    model: str
    engine: str
    engine_version: str | None = None
    workload: str | None = None  # absent in runs before 2026-12-01: such a run cannot become a baseline

    def differences(self, other: BaselineIdentity) -> list[str]:
        return [f"{name}: baseline {getattr(self, name)!r} vs run {getattr(other, name)!r}"
                for name in BaselineIdentity.model_fields if getattr(self, name) != getattr(other, name)]  # fmt: skip


class Baseline(BaselineIdentity):
    """A saved baseline (``outputs/baselines/<profile>-day7.json``): the identity, the 1000-concurrent summary,
    the run it came from and when it was saved."""

    summary: LatencySummary
    source: str
    saved_utc: str

    @property
    def identity(self) -> BaselineIdentity:
        return BaselineIdentity.model_validate(self.model_dump(include=set(BaselineIdentity.model_fields)))


@dataclass(frozen=True)
class Delta:
    metric: str
    baseline: float | None
    current: float | None
    change_pct: float | None
    regression: bool


@dataclass(frozen=True)
class Comparison:
    threshold_pct: float
    deltas: list[Delta]

    @property
    def regressed(self) -> bool:
        return any(d.regression for d in self.deltas)

    @property
    def verdict(self) -> str:
        worst = [d.metric for d in self.deltas if d.regression]
        return f"REGRESSION in {', '.join(worst)}" if worst else f"no regression beyond {self.threshold_pct:g} %"

    def format_text(self) -> str:
        lines = [f"{'metric':16s}{'baseline':>12s}{'this run':>12s}{'change':>10s}"]
        for d in self.deltas:
            old = "n/a" if d.baseline is None else f"{d.baseline:.1f}"
            new = "n/a" if d.current is None else f"{d.current:.1f}"
            change = "n/a" if d.change_pct is None else f"{d.change_pct:+.1f} %"
            lines.append(f"{d.metric:16s}{old:>12s}{new:>12s}{change:>10s}  {'REGRESSION' if d.regression else ''}")
        lines.append(self.verdict)
        return "\n".join(lines)

    def rows(self) -> list[dict[str, Any]]:
        return [asdict(d) for d in self.deltas]

    def to_dict(self) -> dict[str, Any]:
        return {"threshold_pct": self.threshold_pct, "regressed": self.regressed, "verdict": self.verdict,
                "deltas": self.rows()}  # fmt: skip


def make_baseline(identity: BaselineIdentity, summary: LatencySummary, source: str) -> Baseline:
    missing = [name for name in BaselineIdentity.model_fields if not getattr(identity, name)]
    if missing:
        raise PlaybookError(f"a baseline needs {', '.join(missing)}: this run did not record them (rerun its Day 7)")
    return Baseline(**identity.model_dump(), summary=summary, source=source, saved_utc=utc_now())


def save_baseline(baseline: Baseline, path: Path) -> Path:
    write_json_atomic(path, baseline.model_dump(mode="json"))
    return path


def load_baseline(path: Path) -> Baseline:
    if not path.exists():
        raise PlaybookError(f"no baseline at {path}; save one first (playbook baseline save)")
    try:
        return Baseline.model_validate(json.loads(path.read_text()))
    except ValueError as exc:  # not JSON, or a ValidationError (a ValueError too): one line either way
        where = first_problem(exc) if isinstance(exc, ValidationError) else str(exc)
        raise PlaybookError(
            f"{path} is not a baseline ({where}); save a new one with `playbook baseline save --run <run folder>`"
        ) from None


def compare(
    baseline: Baseline, identity: BaselineIdentity, summary: LatencySummary, threshold_pct: float
) -> Comparison:
    """Deltas of every headline metric; a move past the threshold the wrong way is a regression."""
    differing = baseline.identity.differences(identity)
    if differing:
        raise PlaybookError(
            "refusing to compare with a baseline of something else: " + "; ".join(differing)
            + "; save one of this setup with `playbook baseline save --run <run folder>`"
        )  # fmt: skip
    deltas = []
    for label, path, higher_is_better in HEADLINES:
        old, new = attrgetter(path)(baseline.summary), attrgetter(path)(summary)
        if old is None or new is None or old == 0:
            deltas.append(Delta(label, old, new, None, False))
            continue
        change = (new - old) / old * 100
        worse = -change if higher_is_better else change
        deltas.append(Delta(label, old, new, change, worse > threshold_pct))
    return Comparison(threshold_pct, deltas)
