"""The engine-selection report: the article's decision tree as code, fed by measured evidence.

The article ends with an opinion table and a decision tree (general use → vLLM; structured
output / agentic → SGLang; > 100 M tokens/day with a dedicated infra team → TensorRT-LLM; AMD →
SGLang, then vLLM). Here the tree is a function of a workload questionnaire, and every answer
lists the measurements that support it and the ones that are missing on this hardware. No
number from the article is ever shown as ours: its claims sit in their own column.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from playbook.core.errors import PlaybookError
from playbook.core.profiles import EngineSpec, HardwareSpec
from playbook.load.rounds import compare, spread_of
from playbook.reports.layout import load_runs, outputs_root_of
from playbook.reports.results import (
    Day1Result,
    Day2Result,
    Day3Result,
    Day4Result,
    Day5Result,
    Day6Result,
    Day7Result,
    DayResult,
    MultiGpuSummary,
    SweepRow,
    load_comparison,
    load_day_result,
)
from playbook.reports.run_manifest import read_manifest
from playbook.sizing.architecture import ModelShape, load_shape
from playbook.sizing.memory import plan_memory

# The article's engines, in its order of operational effort: vLLM its baseline, SGLang the first alternative,
# TensorRT-LLM the one that needs a team. The evidence table has a column each; the article's tree names them.
ARTICLE_ENGINES = BASELINE, ALTERNATIVE, HEAVYWEIGHT = ("vllm", "sglang", "trtllm")
ARTICLE_CLAIMS = {
    BASELINE: "baseline; broad model support; multi-LoRA",
    ALTERNATIVE: "+10-30 % on structured output; RadixAttention prefix reuse",
    HEAVYWEIGHT: "+20-50 % throughput; best P99; high maintenance cost",
}
R = TypeVar("R", bound=DayResult)
BIG_VOLUME_TOKENS_PER_DAY = 100_000_000
DEDICATED_INFRA_TEAM = 3


class Workload(BaseModel):
    """The questionnaire (the selection notebook's parameters)."""

    model_config = ConfigDict(extra="forbid")

    daily_output_tokens: int = Field(10_000_000, ge=0)
    structured_share: float = Field(0.0, ge=0, le=1, description="Share of requests needing JSON/regex/choice.")
    shared_prefix_share: float = Field(
        0.0, ge=0, le=1, description="Share of multi-turn / shared-system-prompt traffic."
    )
    ttft_slo_ms: float | None = Field(None, gt=0)
    tpot_slo_ms: float | None = Field(None, gt=0)
    gpu_vendor: Literal["nvidia", "amd", "cpu"] = "nvidia"
    infra_engineers: int = Field(1, ge=0, description="People who would maintain the serving stack.")
    peak_to_average: float = Field(
        2.5,
        ge=1,
        description="Peak-hour traffic over the day's average: replicas are sized for the peak (2-3x is "
        "typical of interactive traffic; 1 for a flat batch load).",
    )


@dataclass
class Evidence:
    """What the days measured: day number → that day's typed result (its metrics.json)."""

    days: dict[int, DayResult] = field(default_factory=dict)
    source: str = ""
    engine: str = BASELINE
    # An engine comparison's rows (alternating rounds, side by side on one GPU), in place of this run's Day 7 sweep.
    sweep: list[SweepRow] | None = None
    sweep_source: str | None = None
    # Days this engine could not run, with why and where that is shown (an assembled GPU week's ``not_run.json``):
    # its cells say so instead of "not measured", since "cannot serve it" is itself a finding for the selection.
    not_run: dict[int, str] = field(default_factory=dict)

    def _day(self, number: int, kind: type[R]) -> R | None:
        result = self.days.get(number)
        return result if isinstance(result, kind) else None

    @property
    def day1(self) -> Day1Result | None:
        return self._day(1, Day1Result)

    @property
    def day2(self) -> Day2Result | None:
        return self._day(2, Day2Result)

    @property
    def day3(self) -> Day3Result | None:
        return self._day(3, Day3Result)

    @property
    def day4(self) -> Day4Result | None:
        return self._day(4, Day4Result)

    @property
    def day5(self) -> Day5Result | None:
        return self._day(5, Day5Result)

    @property
    def day6(self) -> Day6Result | None:
        return self._day(6, Day6Result)

    @property
    def day7(self) -> Day7Result | None:
        return self._day(7, Day7Result)

    def sweep_levels(self) -> list[SweepRow]:
        if self.sweep is not None:
            return self.sweep
        return (self.day7.steps.sweep or []) if self.day7 else []


@dataclass(frozen=True)
class Decision:
    engine: str
    runner_up: str | None
    rule: str
    evidence: tuple[str, ...]
    missing: tuple[str, ...]

    def explain(self) -> str:
        lines = [f"Recommended: {self.engine}" + (f" (then {self.runner_up})" if self.runner_up else ""),
                 f"Because: {self.rule}"]  # fmt: skip
        lines += [f"  measured: {e}" for e in self.evidence] + [f"  not measured: {m}" for m in self.missing]
        return "\n".join(lines)


def evidence_run(output_dir: Path, profile_name: str) -> Path | None:
    """The run this report belongs to (its parent folder, when the runner ran the week), else the
    newest run of the same profile under the outputs root."""
    here = Path(output_dir).parent
    if any(here.glob("day0*/metrics.json")):
        return here
    root = outputs_root_of(output_dir)
    for run in load_runs(root):
        if run.profile_name == profile_name and run.folder and any((root / run.folder).glob("day0*/metrics.json")):
            return root / run.folder
    return None


def gather_evidence(run_dir: Path) -> Evidence:
    """Every ``dayNN/metrics.json`` of one run folder, each read as its day's typed result (Day 8's own
    file, the report being written, is not evidence)."""
    days = {}
    for path in sorted(Path(run_dir).glob("day0[1-7]/metrics.json")):
        result = load_day_result(path)
        days[result.day] = result
    manifest = Path(run_dir) / "manifest.json"
    engine = read_manifest(manifest).engine if manifest.exists() else None
    return Evidence(days, str(run_dir), engine or BASELINE, not_run=read_not_run(Path(run_dir) / "not_run.json"))


def read_not_run(path: Path) -> dict[int, str]:
    """``{"<day>": {"why": ..., "evidence": ...}}`` (written by ``benchmarks/gpu/assemble_week.py``) as day -> the
    sentence its cells show; no file, no such days."""
    if not path.exists():
        return {}
    entries = json.loads(path.read_text())
    return {int(day): f"could not run: {e['why']} ({e['evidence']})" for day, e in entries.items()}


def engine_columns(evidence: Evidence, others: Sequence[Evidence] = ()) -> dict[str, Evidence]:
    """Engine name -> its run's evidence: this run's, then runs of other engines on the same profile (e.g. the same
    days run again with ``--set engine=sglang``), so one table puts both engines' numbers side by side."""
    columns = {evidence.engine: evidence}
    for other in others:
        if other.engine in columns:
            raise PlaybookError(f"compare_runs: {other.source} is another {other.engine} run; give one run per engine")
        columns[other.engine] = other
    return columns


def with_comparison(columns: dict[str, Evidence], path: Path | None, profile_name: str) -> dict[str, Evidence]:
    """Each engine's Day 7 sweep replaced by its rows in an engine comparison (``playbook.run.compare``): there the
    engines ran side by side in alternating rounds, so a difference between them is not the host's drift between
    two runs. An engine of the comparison with no run here gets a column holding only that. The comparison must
    be of this profile (``comparison_json``)."""
    if path is None:
        return columns
    comparison = load_comparison(Path(path))
    if comparison.profile != profile_name:
        raise PlaybookError(f"comparison_json: {path} compares on profile {comparison.profile}, this report is "
                            f"{profile_name}; give a comparison of the same profile, or none")  # fmt: skip
    merged = dict(columns)
    for engine, rows in comparison.summary.levels.items():
        base = merged.get(engine, Evidence(source=str(path), engine=engine))
        merged[engine] = replace(base, sweep=list(rows), sweep_source=str(path))
    return merged


def _kv_preflight_error(evidence: Evidence) -> str:
    """Day 1's KV-capacity estimate against what the engine reported, as a signed percentage."""
    kv = evidence.day1.steps.kv_capacity if evidence.day1 else None
    return f"{100 * kv.relative_error:+.1f} %" if kv and kv.relative_error is not None else NOT_MEASURED


def _engine_rows(columns: dict[str, Evidence]) -> list[tuple[str, dict[str, str]]]:
    """The rows every engine's own Day 1 and Day 7 can fill: same workload, same client, one column each."""

    def top_level(ev: Evidence) -> SweepRow | None:
        levels = [lv for lv in ev.sweep_levels() if lv.output_tok_s is not None]
        return max(levels, key=lambda lv: lv.concurrency, default=None)

    def peak(ev: Evidence):
        return ev.day7.steps.peak.summary if ev.day7 and ev.day7.steps.peak else None

    cells = {
        "TTFT p50 at concurrency 1 (Day 7)": lambda ev: _fmt((lv := ev.day7 and ev.day7.level(1)) and lv.ttft_p50_ms,
                                                             "ms"),
        "TPOT p50 at concurrency 1 (Day 7)": lambda ev: _fmt((lv := ev.day7 and ev.day7.level(1)) and lv.tpot_p50_ms,
                                                             "ms", 1),
        "Output tok/s at the top sweep level, steady state (Day 7)": lambda ev: (
            f"{top.output_tok_s:,.0f} tok/s at c={top.concurrency}" if (top := top_level(ev)) else NOT_MEASURED),
        "TPOT p50 at the top sweep level (Day 7)": lambda ev: _fmt((top := top_level(ev)) and top.tpot_p50_ms,
                                                                   "ms", 1),
        "E2E P99 at 1000 concurrent (Day 7)": lambda ev: _fmt((p := peak(ev)) and p.e2e.p99_ms, "ms"),
        "Output tok/s at 1000 concurrent (Day 7)": lambda ev: _fmt((p := peak(ev)) and p.output_throughput_tok_s,
                                                                   "tok/s"),
        "KV pre-flight vs the engine's own count (Day 1)": _kv_preflight_error,
    }  # fmt: skip
    rows = [(name, {engine: cell(ev) for engine, ev in columns.items()}) for name, cell in cells.items()]
    differences = throughput_differences(columns)
    if differences:
        rows.append(("Throughput against the other engine, top common level (Day 7 rounds)", differences))
    return rows


def throughput_differences(columns: dict[str, Evidence]) -> dict[str, str]:
    """Each engine's steady throughput against the other's at the highest concurrency both measured cleanly:
    a winner only outside the spread of their rounds (``playbook.load.rounds``), else no measurable difference."""
    if len(columns) != 2:
        return {}
    (a_name, a), (b_name, b) = columns.items()
    clean = [{lv.concurrency: lv for lv in ev.sweep_levels() if lv.output_tok_s is not None
              and not lv.cache_contaminated} for ev in (a, b)]  # fmt: skip
    common = sorted(set(clean[0]) & set(clean[1]))
    if not common:
        return {}
    c = common[-1]
    spreads = [spread_of(levels[c]) for levels in clean]
    return {a_name: f"c={c}: " + compare("output tok/s", spreads[0], spreads[1]).sentence(a_name, b_name),
            b_name: f"c={c}: " + compare("output tok/s", spreads[1], spreads[0]).sentence(b_name, a_name)}  # fmt: skip


def cost_rows(columns: dict[str, Evidence], workload: Workload, usd_per_hour: float, gpus: int) -> list[dict[str, Any]]:
    """$ per million output tokens for each engine at what it sustains: the Day 7 rate search's highest sustained
    rate where it ran (open-loop arrivals, as production traffic comes), else its best sweep level within the
    SLOs. Each row says which, in ``basis``."""
    rows = []
    for engine, ev in columns.items():
        found = sustained_throughput(ev, workload)
        if found is None:
            continue
        basis, where, tok_s = found
        daily = workload.daily_output_tokens
        rows.append({"engine": engine, "basis": basis, **where, "output_tok_s": tok_s,
                     "usd_per_device_hour": usd_per_hour,
                     "usd_per_million_output_tokens": cost_per_million_tokens(tok_s, usd_per_hour, gpus),
                     "devices_for_daily_volume": gpus_for_volume(daily, tok_s, gpus)})  # fmt: skip
    return rows


def sustained_throughput(ev: Evidence, workload: Workload) -> tuple[str, dict[str, Any], float] | None:
    """(basis in words, where it was measured, output tok/s) of what an engine sustains within the SLOs."""
    search = ev.day7.steps.rate_search if ev.day7 else None
    step = search.sustained_step() if search else None
    if search and step and step.output_tok_s:
        basis = f"rate search: {step.offered_rps:.3g} req/s sustained ({search.meaning()})"
        return basis, {"sustained_rps": step.offered_rps}, step.output_tok_s
    best = best_level_within_slo(ev.sweep_levels(), workload.ttft_slo_ms, workload.tpot_slo_ms)
    if best is None or best.output_tok_s is None:
        return None
    slos = "P99 TTFT and P50 TPOT within the SLOs" if workload.ttft_slo_ms or workload.tpot_slo_ms else "no SLO set"
    return f"concurrency sweep: c={best.concurrency} ({slos})", {"concurrency": best.concurrency}, best.output_tok_s


def _structured_evidence(evidence: Evidence) -> tuple[list[str], list[str]]:
    day3 = evidence.day3
    measured, missing = [], []
    constrained = day3.rows(BASELINE, "structured", constrained=True) if day3 else []
    free = day3.rows(BASELINE, "structured", constrained=False) if day3 else []
    if constrained and free:
        c, f = constrained[0], free[0]
        measured.append(f"vLLM constrained decoding: valid {c.valid_rate:.0%} vs {f.valid_rate:.0%} prompt-only, "
                        f"TPOT {c.tpot_p50_ms:.1f} vs {f.tpot_p50_ms:.1f} ms")  # fmt: skip
    else:
        missing.append("structured output on vLLM (Day 3 did not run)")
    if day3 and day3.rows(ALTERNATIVE):
        measured.append("SGLang on the same structured tasks (Day 3)")
    else:
        missing.append("SGLang vs vLLM on your structured workload (Day 3 on a GPU profile)")
    return measured, missing


def decide(workload: Workload, evidence: Evidence) -> Decision:
    """The article's tree, in its order; each branch names what supports it and what is missing."""
    if workload.gpu_vendor == "amd":
        return Decision(ALTERNATIVE, BASELINE, "AMD cluster: both ship ROCm builds; the article ranks SGLang first", (),
                        ("any AMD GPU run (none was available here; the mi300x-rocm profile is unrun)",))  # fmt: skip
    if workload.daily_output_tokens > BIG_VOLUME_TOKENS_PER_DAY and workload.infra_engineers >= DEDICATED_INFRA_TEAM:
        rule = (f"> {BIG_VOLUME_TOKENS_PER_DAY / 1e6:.0f} M tokens/day and a dedicated infra team "
                f"({workload.infra_engineers} people) to own engine builds")  # fmt: skip
        gap = "TensorRT-LLM throughput and P99 on your GPU (launcher and a100-40g profile exist; not run here)"
        return Decision(HEAVYWEIGHT, BASELINE, rule, (), (gap,))
    if workload.structured_share >= 0.3 or workload.shared_prefix_share >= 0.5:
        measured, missing = _structured_evidence(evidence)
        hit = evidence.day3.prefix_hit_rate(BASELINE) if evidence.day3 else None
        if hit is not None:
            measured.append(f"vLLM prefix-cache hit rate on a shared-prefix workload: {hit:.0%}")
        rule = "structured output or shared-prefix (agentic, multi-turn) traffic dominates"
        return Decision(ALTERNATIVE, BASELINE, rule, tuple(measured), tuple(missing))
    gaps = () if evidence.days else ("no day of this profile has run yet",)
    return Decision(BASELINE, None, "general-purpose serving, fastest path to production",
                    tuple(_vllm_evidence(evidence)), gaps)  # fmt: skip


def _vllm_evidence(evidence: Evidence) -> list[str]:
    found = []
    peak = evidence.day7.steps.peak if evidence.day7 else None
    if peak:
        s = peak.summary
        found.append(f"1000 concurrent requests: {s.successes}/{s.requests} ok, TTFT P99 "
                     f"{s.ttft.p99_ms:.0f} ms, {s.output_throughput_tok_s:.0f} output tok/s")  # fmt: skip
    check = evidence.day1.steps.reference_check if evidence.day1 else None
    if check:
        found.append(f"greedy agreement with transformers: {check.passed}")
    return found


def cost_per_million_tokens(tokens_per_s: float, usd_per_gpu_hour: float, gpus: int = 1) -> float:
    """$ per million output tokens at a sustained rate."""
    return usd_per_gpu_hour * gpus / (tokens_per_s * 3600) * 1e6


def gpus_for_volume(daily_tokens: int, tokens_per_s: float, gpus_per_replica: int = 1) -> int:
    """Replicas to serve the daily volume at the measured rate (flat over 24 h), times GPUs per replica."""
    replicas = math.ceil(daily_tokens / (tokens_per_s * 86_400)) if daily_tokens else 0
    return replicas * gpus_per_replica


def best_level_within_slo(
    levels: list[SweepRow], ttft_slo_ms: float | None, tpot_slo_ms: float | None
) -> SweepRow | None:
    """The highest-throughput concurrency whose P99 TTFT and P50 TPOT meet the SLOs (None if none does). A level
    marked ``cache_contaminated`` (it met prompts already in the prefix cache) does not count."""
    ok = [lv for lv in levels if lv.output_tok_s is not None and not lv.cache_contaminated
          and (ttft_slo_ms is None or (lv.ttft_p99_ms or math.inf) <= ttft_slo_ms)
          and (tpot_slo_ms is None or (lv.tpot_p50_ms or math.inf) <= tpot_slo_ms)]  # fmt: skip
    return max(ok, key=lambda lv: lv.output_tok_s, default=None)


GPU_CLASSES: dict[str, tuple[str, float, float]] = {  # name → (vendor, GiB per card, utilization)
    "RTX 4090 24GB": ("nvidia", 23.6, 0.80),
    "A100 40GB": ("nvidia", 39.4, 0.88),  # 4.7 GiB left outside the budget for CUDA context and NCCL
    "H100 80GB": ("nvidia", 79.2, 0.90),
    "H200 141GB": ("nvidia", 139.8, 0.90),
    "MI300X 192GB": ("amd", 191.5, 0.90),
}
MODEL_SIZES = {"7B": "qwen2.5-7b", "14B": "qwen2.5-14b", "32B": "qwen2.5-32b", "70B": "llama-3.1-70b"}
PRECISIONS = {"BF16": 16, "FP8": 8, "4-bit (AWQ/GPTQ)": 4}


def sizing_row(gpu: str, size: str, precision: str, context: int) -> dict[str, Any]:
    """Fit on one card, and otherwise the smallest tensor-parallel group (2, 4, 8) that fits. The weights are the
    memory pre-flight's (``plan_memory``, as Day 4's fit table): quantized layers with their group scales, the
    embeddings and head kept at 16 bits, which a bare parameters x bits / 8 undercounts (3.55 vs 5.19 GiB for a
    4-bit 7B, checked against a real checkpoint in Day 4's tests)."""
    vendor, memory, utilization = GPU_CLASSES[gpu]
    shape = ModelShape.from_config(load_shape(MODEL_SIZES[size]))
    bits = PRECISIONS[precision]

    def plan_on(count: int):
        hardware = HardwareSpec(accelerator=vendor, device_name=gpu, memory_gib=memory, count=count)
        engine = EngineSpec(dtype="bfloat16", max_model_len=context, gpu_memory_utilization=utilization,
                            runtime_overhead_gib=2.0, tensor_parallel_size=count)  # fmt: skip
        return plan_memory(shape, engine, hardware, bits)

    single = plan_on(1)
    weights = single.weight_bytes
    row = {
        "gpu": gpu,
        "model": size,
        "precision": precision,
        "weights_gb": weights / 1e9,
        "weights_gib": weights / 2**30,
    }
    for count in (1, 2, 4, 8):
        plan = single if count == 1 else plan_on(count)
        if plan.fits:
            return {**row, "gpus_needed": count, "kv_tokens": plan.kv_capacity_tokens,
                    "concurrent_full_context": plan.max_concurrent_full_sequences}  # fmt: skip
    return {**row, "gpus_needed": None, "kv_tokens": None, "concurrent_full_context": None}


def sizing_table(context: int = 8192) -> list[dict[str, Any]]:
    return [sizing_row(g, s, p, context) for g in GPU_CLASSES for s in MODEL_SIZES for p in PRECISIONS]


NOT_MEASURED = "not measured on this hardware"


def _fmt(value: float | None, unit: str, digits: int = 0) -> str:
    return NOT_MEASURED if value is None else f"{value:,.{digits}f} {unit}".strip()


def _percent(share: float | None) -> float | None:
    return None if share is None else 100 * share


def _spec_speedup(evidence: Evidence) -> float | None:
    return evidence.day2.best_speedup_at_c1() if evidence.day2 else None


def _lora_ratio(evidence: Evidence, engine: str | None = None) -> float | None:
    return evidence.day6.mixed_over_base(engine) if evidence.day6 else None


def _quantization_summary(evidence: Evidence) -> str | None:
    """'AWQ W4A16: PASS (perplexity +4.1 %)' per quantized model Day 4 gated."""
    gate = evidence.day4.steps.gate if evidence.day4 else None
    if not gate or not gate.verdicts:
        return None
    rises = {c.model: c.change for c in gate.checks if c.name.startswith("perplexity")}
    return "; ".join(f"{model}: {v} (perplexity {rises.get(model) or float('nan'):+.1f} %)"
                     for model, v in gate.verdicts.items())  # fmt: skip


def _gpu_day3_rows(day3: Day3Result | None) -> list[tuple[str, str, str]]:
    """vLLM vs SGLang on the same H100 and workload, from the committed Day 3 reference run."""

    def pick(engine: str, workload: str, key: str, **match: Any) -> str:
        row = next(iter(day3.rows(engine, workload, **match)), None) if day3 else None
        return _fmt(getattr(row, key, None), "ms", 1)

    structured = day3.rows(workload="structured") if day3 else []
    if not structured:
        return []
    top = max(r.concurrency or 0 for r in structured)
    return [
        (f"H100 reference (7B dummy): constrained-JSON TPOT p50 at c={top} (Day 3)",
         pick(BASELINE, "structured", "tpot_p50_ms", constrained=True, concurrency=top),
         pick(ALTERNATIVE, "structured", "tpot_p50_ms", constrained=True, concurrency=top)),
        (f"H100 reference (7B dummy): unconstrained TPOT p50 at c={top} (Day 3)",
         pick(BASELINE, "structured", "tpot_p50_ms", constrained=False, concurrency=top),
         pick(ALTERNATIVE, "structured", "tpot_p50_ms", constrained=False, concurrency=top)),
        ("H100 reference (7B dummy): shared-prefix TTFT p50, caching on (Day 3)",
         pick(BASELINE, "shared-prefix", "ttft_p50_ms", prefix_caching=True),
         pick(ALTERNATIVE, "shared-prefix", "ttft_p50_ms", prefix_caching=True)),
    ]  # fmt: skip


@dataclass
class GpuReference:
    """A committed GPU reference run of the week: the 7B-shaped dummy model for speed and memory, the
    real small model for what needs real answers. Laid out like run folders, so Evidence reads them."""

    gpu: str
    speed: Evidence
    real: Evidence


def load_gpu_reference(folder: Path) -> GpuReference | None:
    """``folder/versions.csv`` names the GPU (nvidia-smi's first row); ``qwen2.5-7b-dummy/`` and ``smollm2/``
    hold the days. None when the folder is absent (a report renders without it)."""
    folder = Path(folder)
    versions = folder / "versions.csv"
    if not versions.exists():
        return None
    gpu = versions.read_text().splitlines()[1].split(",")[0].strip().removeprefix("NVIDIA ")
    return GpuReference(gpu, gather_evidence(folder / "qwen2.5-7b-dummy"), gather_evidence(folder / "smollm2"))


def _gpu_week_rows(ref: GpuReference | None) -> list[tuple[str, str, str]]:
    """vLLM on the committed GPU reference: Day 1's pre-flight error, Day 7 at 1000 concurrent and the
    roofline on the 7B dummy; Days 2, 4, 5 and 6 on the real small model. SGLang ran only Day 3 there."""
    if ref is None:
        return []
    roof = ref.speed.day7.steps.roofline if ref.speed.day7 else None
    peak = ref.speed.day7.steps.peak.summary if ref.speed.day7 and ref.speed.day7.steps.peak else None
    pitfall4 = ref.real.day5.steps.pitfall4_two_instances_one_gpu if ref.real.day5 else None
    sharing = {a.label: a for a in pitfall4.attempts} if pitfall4 else {}
    split = [a for label, a in sharing.items() if label.startswith("split-") and a.output_tok_s]
    speed, real = f"{ref.gpu} reference (7B dummy)", f"{ref.gpu} reference (SmolLM2-135M)"
    rows = [
        (f"{speed}: pre-flight KV capacity vs vLLM's report (Day 1)",
         _kv_preflight_error(ref.speed)),
        (f"{speed}: TPOT p50 at c=1 / bandwidth floor (Day 7)",
         f"{roof.tpot_measured_ms:.2f} / {roof.tpot_floor_ms:.2f} ms" if roof and roof.tpot_measured_ms
         else NOT_MEASURED),
        (f"{speed}: TTFT P50 / P95 / P99 at 1000 concurrent (Day 7)",
         " / ".join(f"{v:,.0f}" for v in (peak.ttft.p50_ms, peak.ttft.p95_ms, peak.ttft.p99_ms)) + " ms" if peak
         else NOT_MEASURED),
        (f"{speed}: output tok/s at 1000 concurrent (Day 7)", _fmt(peak and peak.output_throughput_tok_s, "tok/s")),
        (f"{real}: ngram speculation, best speedup at c=1 (Day 2)", _fmt(_spec_speedup(ref.real), "x", 2)),
        (f"{real}: two instances on one GPU, tok/s together vs alone (Day 5)",
         f"{sum(a.output_tok_s for a in split):,.0f} vs {sharing['alone'].output_tok_s:,.0f} tok/s"
         if len(split) > 1 and "alone" in sharing else NOT_MEASURED),
        (f"{real}: multi-LoRA mixed-adapter / base-only throughput (Day 6)", _fmt(_lora_ratio(ref.real), "x", 2)),
        (f"{real}: 4-bit quality gate, vs the original (Day 4)", _quantization_summary(ref.real) or NOT_MEASURED),
    ]  # fmt: skip
    return [(dimension, value, NOT_MEASURED) for dimension, value in rows]


def _sessions_text(day3: Day3Result | None, engine: str) -> str:
    turns = [t for t in (day3.steps.sessions or []) if t.engine == engine] if day3 else []
    if len(turns) < 2 or turns[0].ttft_p50_ms is None or turns[-1].ttft_p50_ms is None:
        return NOT_MEASURED
    ttft = f"{turns[0].ttft_p50_ms:,.0f} → {turns[-1].ttft_p50_ms:,.0f} ms over {len(turns)} turns"
    later = [t.hit_rate for t in turns[1:] if t.hit_rate is not None]
    return ttft + (f", hit rate {min(later):.0%}-{max(later):.0%}" if later else ", no cache counters")


def _ran(ev: Evidence, engine: str, day: int) -> bool:
    """Whether this run's day ``day`` served ``engine``: its own engine, or one it measured beside (Days 3, 6)."""
    if day not in ev.days:
        return False
    if ev.engine == engine:
        return True
    if day == 3:
        return engine in ev.day3.engines()
    return day == 6 and getattr(ev.day6.steps, f"{engine}_multi_lora", None) is not None


def _cell(columns: dict[str, Evidence], engine: str, day: int, read) -> str:
    """``read(evidence, engine)`` on the engine's own run first, then on the other engines' runs: on a GPU profile
    Days 3 and 6 also serve the same work on SGLang after vLLM, so vLLM's run holds SGLang's numbers too. Where the
    day served the engine but has no such step (a run of older code), the cell says so rather than 'not measured'."""
    own = [columns[engine]] if engine in columns else []
    if own and day in own[0].not_run:
        return own[0].not_run[day]
    runs = own + [ev for name, ev in columns.items() if name != engine]
    for ev in runs:
        value = read(ev, engine)
        if value is not None:
            return value
    return f"Day {day} ran without this step" if any(_ran(ev, engine, day) for ev in runs) else NOT_MEASURED


def _own_day(ev: Evidence, engine: str, day: int, text: str | None) -> str | None:
    """A day's figure for the run's own engine only, with the day's status where it did not end ok (a failed
    Day 2 still measured its speedups; the reader must see that the day failed)."""
    if ev.engine != engine or text is None:
        return None
    status = ev.days[day].status
    return text if status == "ok" else f"{text} (the day {status})"


def _day_rows(columns: dict[str, Evidence]) -> list[tuple[str, dict[str, str]]]:
    """Days 2, 3, 4 and 6, one cell per engine, each from the run that measured that engine."""

    def day3_row(ev: Evidence, engine: str, constrained: bool) -> str | None:
        row = next(iter(ev.day3.rows(engine, "structured", constrained=constrained)), None) if ev.day3 else None
        return _fmt(_percent(row.valid_rate), "%") if row and row.valid_rate is not None else None

    def hit_rate(ev: Evidence, engine: str) -> str | None:
        share = ev.day3.prefix_hit_rate(engine) if ev.day3 else None
        return _fmt(_percent(share), "%") if share is not None else None

    def sessions(ev: Evidence, engine: str) -> str | None:
        text = _sessions_text(ev.day3, engine)
        return None if text == NOT_MEASURED else text

    def lora(ev: Evidence, engine: str) -> str | None:
        ratio = _lora_ratio(ev, None if engine == ev.engine else engine)  # None: the run's own engine
        return _fmt(ratio, "x", 2) if ratio is not None else None

    cells = {
        "Speculative decoding, best speedup at c=1 (Day 2)":
            (2, lambda ev, e: _own_day(ev, e, 2, (x := _spec_speedup(ev)) and _fmt(x, "x", 2))),
        "Constrained output valid rate (Day 3)": (3, lambda ev, e: day3_row(ev, e, True)),
        "Prompt-only output valid rate (Day 3)": (3, lambda ev, e: day3_row(ev, e, False)),
        "Prefix-cache hit rate, shared-prefix workload (Day 3)": (3, hit_rate),
        "Multi-turn chats: TTFT p50 from turn 1 to the last, hit rate after turn 1 (Day 3)": (3, sessions),
        "Multi-LoRA: mixed-adapter / base-only throughput (Day 6)": (6, lora),
        "4-bit quality gate, vs the original (Day 4)":
            (4, lambda ev, e: _own_day(ev, e, 4, _quantization_summary(ev))),
    }  # fmt: skip
    return [(name, {engine: _cell(columns, engine, day, read) for engine in ARTICLE_ENGINES})
            for name, (day, read) in cells.items()]  # fmt: skip


def evidence_table(
    evidence: Evidence,
    reference: MultiGpuSummary | None = None,
    gpu_day3: Day3Result | None = None,
    gpu_week: GpuReference | None = None,
    others: Sequence[Evidence] = (),
) -> list[dict[str, str]]:
    """Engine x dimension: measured values where they exist, an explicit gap where they don't. Each engine's
    column comes from its own run (``others``: one run per engine), or from a run that measured it beside."""
    columns = engine_columns(evidence, others)
    h100_tp1 = reference.variant("qwen7b-tp1") if reference else None
    h100_c256 = h100_tp1.level(256) if h100_tp1 else None
    fixed = [("H100 reference: 7B dummy, tok/s at c=256 (committed)",
              _fmt(h100_c256 and h100_c256.output_tok_s, "tok/s"), NOT_MEASURED)] if reference else []  # fmt: skip
    fixed += _gpu_day3_rows(gpu_day3) + _gpu_week_rows(gpu_week)
    per_engine = [(d, {BASELINE: v, ALTERNATIVE: s}) for d, v, s in fixed]
    table = []
    for dimension, values in _engine_rows(columns) + _day_rows(columns) + per_engine:
        table.append({"dimension": dimension, **{f"{e} (measured)": values.get(e, NOT_MEASURED)
                                                for e in ARTICLE_ENGINES}})  # fmt: skip
    return table
