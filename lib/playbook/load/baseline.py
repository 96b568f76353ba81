"""Baselines: save a load test's headline numbers, flag later runs that regress.

A baseline is only comparable with a run of the same profile, model, engine version
and workload (dataset, prompt and output lengths, requests and concurrency); anything
else is refused with the differing fields named, since a "delta" across engines, models
or prompt lengths would be a comparison of different things.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playbook.core.errors import PlaybookError
from playbook.core.fileio import utc_now, write_json_atomic

# (label, path into the summary, higher_is_better)
HEADLINES: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("TTFT p50 (ms)", ("ttft", "p50_ms"), False),
    ("TTFT p95 (ms)", ("ttft", "p95_ms"), False),
    ("TTFT p99 (ms)", ("ttft", "p99_ms"), False),
    ("TPOT p50 (ms)", ("tpot", "p50_ms"), False),
    ("TPOT p99 (ms)", ("tpot", "p99_ms"), False),
    ("E2E p50 (ms)", ("e2e", "p50_ms"), False),
    ("E2E p95 (ms)", ("e2e", "p95_ms"), False),
    ("E2E p99 (ms)", ("e2e", "p99_ms"), False),
    ("output tok/s", ("output_throughput_tok_s",), True),
    ("requests/s", ("request_throughput_rps",), True),
)
IDENTITY = ("profile", "model", "engine", "engine_version", "workload")


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


def _get(summary: dict[str, Any], path: tuple[str, ...]) -> float | None:
    node: Any = summary
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def make_baseline(identity: dict[str, str], summary: dict[str, Any], source: str) -> dict[str, Any]:
    missing = [k for k in IDENTITY if not identity.get(k)]
    if missing:
        raise PlaybookError(f"a baseline needs {', '.join(missing)}")
    return {**{k: identity[k] for k in IDENTITY}, "summary": summary, "source": source, "saved_utc": utc_now()}


def save_baseline(baseline: dict[str, Any], path: Path) -> Path:
    write_json_atomic(path, baseline)
    return path


def load_baseline(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise PlaybookError(f"no baseline at {path}; save one first (playbook baseline save)")
    return json.loads(path.read_text())


def compare(
    baseline: dict[str, Any], identity: dict[str, str], summary: dict[str, Any], threshold_pct: float
) -> Comparison:
    """Deltas of every headline metric; a move past the threshold the wrong way is a regression."""
    differing = [f"{k}: baseline {baseline.get(k)!r} vs run {identity.get(k)!r}" for k in IDENTITY
                 if baseline.get(k) != identity.get(k)]  # fmt: skip
    if differing:
        raise PlaybookError(
            "refusing to compare with a baseline of something else: " + "; ".join(differing)
            + "; save one of this setup with `playbook baseline save --run <run folder>`"
        )  # fmt: skip
    deltas = []
    for label, path, higher_is_better in HEADLINES:
        old, new = _get(baseline["summary"], path), _get(summary, path)
        if old is None or new is None or old == 0:
            deltas.append(Delta(label, old, new, None, False))
            continue
        change = (new - old) / old * 100
        worse = -change if higher_is_better else change
        deltas.append(Delta(label, old, new, change, worse > threshold_pct))
    return Comparison(threshold_pct, deltas)
