"""Day 5's pitfall 4, measured: two vLLM instances on one GPU.

``gpu_memory_utilization`` is the share of the *whole* card that one vLLM instance budgets for
itself (weights, activations, CUDA graphs, KV cache), and vLLM refuses to start when that much is
not free at startup. So a second instance with the same share, on a GPU the first already holds,
exits within seconds with vLLM's own reason; two instances given a part each (0.45 + 0.45) both
start, each with a smaller KV cache, and share the card's compute. Day 5's manifests avoid the
situation (one pod per exclusive GPU node); this shows what happens when someone does it anyway.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import asdict, dataclass, field
from typing import Any

import matplotlib.pyplot as plt

from playbook.core.errors import ServerStartError
from playbook.days.context import DayContext, launch_variant
from playbook.load import sweep
from playbook.serving import serverinfo
from playbook.serving.launcher import Server

# What vLLM (and CUDA) print when the memory an instance wants is not there, most specific first.
MEMORY_REASONS = (
    "Free memory on device",
    "No available memory for the cache blocks",
    "CUDA out of memory",
    "out of memory",
)


def failure_reason(log_text: str) -> str | None:
    """The engine's own line explaining why it did not start: a memory line if there is one, else the
    last line naming an error. None when the log names nothing (then the caller keeps its own error)."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    for marker in MEMORY_REASONS:
        for line in lines:
            if marker in line:
                return line[line.find("ValueError") :] if "ValueError" in line else line
    errors = [line for line in lines if "Error" in line]
    return errors[-1] if errors else None


@dataclass
class InstanceAttempt:
    """One instance's start on the shared GPU, and what it served if it started."""

    label: str
    gpu_memory_utilization: float
    started: bool
    startup_s: float | None = None
    reason: str | None = None
    kv_capacity_tokens: int | None = None
    output_tok_s: float | None = None
    ttft_p50_ms: float | None = None
    tpot_p50_ms: float | None = None


@dataclass
class SharingResult:
    """The instance alone, a second one with the same share, and the card split in two."""

    alone: InstanceAttempt
    same_share: InstanceAttempt
    split: list[InstanceAttempt] = field(default_factory=list)

    @property
    def split_output_tok_s(self) -> float | None:
        rates = [a.output_tok_s for a in self.split]
        return sum(rates) if rates and None not in rates else None

    def same_share_verdict(self) -> tuple[bool, str]:
        """Pitfall 4 is that the same share twice does not give two instances. vLLM refuses the second at startup
        (its share is of the whole card, and the first holds it); SGLang 0.5 starts it with the KV cache that is
        left (measured on an H200: 14 % of the first's). Either is the pitfall shown; two equal instances are not."""
        second, first = self.same_share, self.alone
        if not second.started:
            return True, f"a second instance with the same share does not start: {second.reason}"
        ratio = (second.kv_capacity_tokens or 0) / first.kv_capacity_tokens if first.kv_capacity_tokens else None
        said = f"{ratio:.0%} of the first's" if ratio is not None else "not reported"
        return ratio is not None and ratio < 0.5, f"a second instance with the same share starts, KV capacity {said}"

    def rows(self) -> list[dict[str, Any]]:
        return [asdict(a) for a in (self.alone, self.same_share, *self.split)]

    def to_json(self) -> dict[str, Any]:
        return {"attempts": self.rows(), "split_output_tok_s": self.split_output_tok_s}


def try_launch(
    ctx: DayContext, model_arg: str, label: str, utilization: float
) -> tuple[Server | None, InstanceAttempt]:
    """Start an instance with this share; a start that fails is a result here, not an error."""
    try:
        server = launch_variant(ctx, model_arg, label, share_pool=False, gpu_memory_utilization=utilization)
    except ServerStartError as err:
        log = ctx.output_dir / f"server-{label}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return None, InstanceAttempt(label, utilization, False, reason=failure_reason(text) or str(err)[:400])
    attempt = InstanceAttempt(label, utilization, True, server.started_s)
    attempt.kv_capacity_tokens = serverinfo.reported_kv_capacity_tokens(server)
    return server, attempt


def _load(ctx: DayContext, server: Server, label: str, concurrency: int, requests: int) -> dict[str, float | None]:
    settings = ctx.profile.days.day7
    pool = sweep.requests_for(settings, requests, ctx.profile.seed, None)
    level = sweep.run_level(server.endpoint, settings, concurrency, requests, pool,
                            ctx.output_dir / "sharing" / label, ctx.profile.seed)  # fmt: skip
    return level.result.summary.row("output_tok_s", "ttft_p50_ms", "tpot_p50_ms")


def _record_load(attempt: InstanceAttempt, measured: dict[str, float | None]) -> None:
    for key, value in measured.items():
        setattr(attempt, key, value)


def measure(ctx: DayContext, model_arg: str, first: Server, fractions: list[float], concurrency: int,
            requests: int) -> SharingResult:  # fmt: skip
    """Alone → a second instance at the same share (expected to fail) → ``first`` stopped → one
    instance per fraction, started one after another (each sizes its KV cache from what is free, so
    starting them together would race), then the same load on all of them at once."""
    share = ctx.profile.engine_spec.gpu_memory_utilization
    alone = InstanceAttempt("alone", share, True, first.started_s)
    alone.kv_capacity_tokens = serverinfo.reported_kv_capacity_tokens(first)
    _record_load(alone, _load(ctx, first, "alone", concurrency, requests))
    second, same_share = try_launch(ctx, model_arg, "second-same-share", share)
    if second is not None:
        second.stop()
    first.stop(even_pooled=True)  # the run's shared server too: the split instances need the whole card
    servers, split = [], []
    try:
        for index, fraction in enumerate(fractions, start=1):
            server, attempt = try_launch(ctx, model_arg, f"split-{index}", fraction)
            split.append(attempt)
            if server is not None:
                servers.append((server, attempt))
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(len(servers), 1)) as pool:
            futures = {pool.submit(_load, ctx, s, a.label, concurrency, requests): a for s, a in servers}
            for future, attempt in futures.items():
                _record_load(attempt, future.result())
    finally:
        for server, _ in servers:
            server.stop()
    return SharingResult(alone, same_share, split)


def plot_sharing(attempts: list[dict[str, Any]]) -> plt.Figure:
    """Pitfall 4 as bars: throughput of the instance alone against the split instances stacked (what the card
    serves in all), and each instance's KV cache. A second instance at the same share has no bar: it did not start."""
    alone = next(a for a in attempts if a["label"] == "alone")
    split = [a for a in attempts if a["label"].startswith("split-") and a.get("output_tok_s")]
    fig, (tput, kv) = plt.subplots(1, 2, figsize=(11, 3.8))
    tput.bar(["alone"], [alone["output_tok_s"] or 0], color="#1a5fb4")
    bottom = 0.0
    for attempt in split:
        tput.bar(["split, together"], [attempt["output_tok_s"]], bottom=bottom, label=attempt["label"])
        bottom += attempt["output_tok_s"]
    tput.set(ylabel="output tokens/s", title="One GPU: one instance vs the card split in two")
    if split:
        tput.legend()
    started = [a for a in attempts if a.get("kv_capacity_tokens")]
    kv.bar([a["label"] for a in started], [a["kv_capacity_tokens"] / 1e6 for a in started], color="gray")
    kv.set(ylabel="KV cache (million tokens)", title="Each instance's KV cache")
    fig.tight_layout()
    return fig
