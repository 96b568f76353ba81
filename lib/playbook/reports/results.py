"""Each day's ``metrics.json`` as a typed result: the schema of the file *is* these models.

:class:`~playbook.reports.recorder.DayRecorder` writes the file step by step (a day that
dies half-way still leaves what it measured); :func:`load_day_result` reads it back as
the day's model, so the selection report, the trends page and the baseline read fields,
not string keys. A step a notebook records must be declared here (an unknown step name
fails validation, in the tests that run every day's notebook); the rows inside a step
keep any extra columns they carry, and the columns readers use are typed.

``schema_version`` says which layout a file has. Files written before the field existed
have this layout (version 1). A file of another version is refused with a one-line error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from playbook.core.errors import PlaybookError, first_problem
from playbook.load.baseline import BaselineIdentity
from playbook.load.loadgen import LoadStatus
from playbook.load.metrics import LatencySummary
from playbook.sizing.work import MachineSpeed

SCHEMA_VERSION = 1
DayStatus = Literal["running", "ok", "partial", "failed"]


class ResultSchemaError(PlaybookError):
    """A metrics.json this playbook cannot read: another schema version, or not of its day's shape."""


class Row(BaseModel):
    """A table row inside a step: typed where a reader uses it, other columns kept as they are."""

    model_config = ConfigDict(extra="allow")


class SizedCountRecord(BaseModel):
    """One count a time budget sized (``sizing.work.SizedCount``)."""

    key: str
    wanted: int
    used: int
    minimum: int
    why_minimum: str
    confidence: str = ""


class WorkPlanRecord(BaseModel):
    """The ``work_sizing`` step: a day's counts sized to its time budget on the speed Day 1 measured."""

    day: int
    budget_s: float
    full_estimate_s: float
    estimate_s: float
    counts: list[SizedCountRecord]
    over_budget: bool = False
    speed_source: str = ""
    scaled: bool = False
    summary: str = ""


class Steps(BaseModel):
    """A day's steps. Only declared steps are accepted; ``DYNAMIC`` lists the name patterns of
    steps recorded once per method, model or pair (``run_<method>``, ``diff_<a>_vs_<b>``)."""

    model_config = ConfigDict(extra="allow")
    DYNAMIC: ClassVar[tuple[str, ...]] = ()
    work_sizing: WorkPlanRecord | None = None  # a day with a time budget, sized on this machine (days.worksize)

    @model_validator(mode="after")
    def _only_declared_steps(self) -> Steps:
        unknown = [k for k in self.model_extra or {} if not any(re.fullmatch(p, k) for p in self.DYNAMIC)]
        if unknown:
            raise ValueError(f"undeclared step(s) {unknown}: declare them in playbook.reports.results")
        return self

    def dynamic(self, prefix: str) -> dict[str, Any]:
        """The steps named ``<prefix><name>``, by name."""
        return {k[len(prefix) :]: v for k, v in (self.model_extra or {}).items() if k.startswith(prefix)}


class CheckRecord(BaseModel):
    """One check a day made (``DayContext.check``): the report lists them in its Checks section."""

    ok: bool
    message: str


class DayResult(BaseModel):
    """The envelope every day's metrics.json shares."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    day: int
    profile: str
    status: DayStatus
    started_utc: str
    finished_utc: str | None = None
    steps: Steps
    skipped: dict[str, str] = {}
    failures: list[str] = []
    partial: list[str] = []
    checks: list[CheckRecord] = []  # absent before 2026-12-04: those reports printed PASS lines in the narrative


# Day 1 --------------------------------------------------------------------------------------------------------------


class ReferenceCheck(Row):
    passed: bool
    mean_agreement: float | None = None


class KvCapacity(Row):
    estimated_tokens: int | None = None
    reported_tokens: int | None = None
    relative_error: float | None = None


class ModelRecord(Row):
    """``sizing.models.PreparedModel``: where the weights came from and what they are."""

    source: str
    model_arg: str
    sha256: str | None = None
    weight_bytes_on_disk: int | None = None
    dummy_weights: bool = False


class MemoryPlanRecord(Row):
    """``sizing.memory.MemoryPlan``: the pre-flight's weights, KV budget and capacity."""

    weight_bytes: int
    kv_capacity_tokens: int
    fits: bool
    problems: list[str] = []
    draft_weight_bytes: int | None = None


class ServerRecord(Row):
    """The engine a day served from: its name, the argv it started with, its version (and start time)."""

    engine: str
    argv: list[str] = []
    version: str | None = None
    startup_s: float | None = None
    reused_from: str | None = None  # the day folder whose start this day shared (serving.pool)


class CurlRecord(Row):
    command: str
    exit_code: int
    answer: str | None = None


class AuthRecord(Row):
    unauthenticated_status: int | None = None  # None: no answer at all


class KnownQuestion(Row):
    prompt: str
    answer: str | None = None
    passed: bool


class RequestRow(Row):
    """``load.loadgen.RequestRecord``: one request as the load generator saw it."""

    success: bool
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    completion_tokens: int | None = None


class Day1Steps(Steps):
    model: ModelRecord | None = None
    memory_plan: MemoryPlanRecord | None = None
    server: ServerRecord | None = None
    kv_capacity: KvCapacity | None = None
    curl: CurlRecord | None = None
    auth: AuthRecord | None = None
    known_questions: list[KnownQuestion] | None = None
    reference_check: ReferenceCheck | None = None
    latency: LatencySummary | None = None
    latency_requests: list[RequestRow] | None = None
    machine_speed: MachineSpeed | None = None  # what the later days are sized on


class Day1Result(DayResult):
    day: Literal[1] = 1
    steps: Day1Steps


# Day 2 --------------------------------------------------------------------------------------------------------------


class SpeedupRow(Row):
    method: str
    workload: str
    concurrency: int
    throughput_speedup: float | None = None


class AcceptanceRow(Row):
    """One method's draft acceptance, from the engine's own metrics (the adapter's reader)."""

    method: str
    workload: str
    acceptance_rate: float | None = None
    mean_accepted_length: float | None = None


class Day2Steps(Steps):
    DYNAMIC: ClassVar[tuple[str, ...]] = (r"run_.+", r"lossless_.+")
    memory_plans: dict[str, MemoryPlanRecord] | None = None  # by method
    speedup: list[SpeedupRow] | None = None
    acceptance: list[AcceptanceRow] | None = None
    conclusion: list[str] | None = None


class Day2Result(DayResult):
    day: Literal[2] = 2
    steps: Day2Steps

    def best_speedup_at_c1(self) -> float | None:
        """The best speculative method's output-throughput speedup at concurrency 1."""
        values = [r.throughput_speedup for r in self.steps.speedup or []
                  if r.method != "none" and r.concurrency == 1 and r.throughput_speedup is not None]  # fmt: skip
        return max(values) if values else None


# Day 3 --------------------------------------------------------------------------------------------------------------


class ComparisonRow(Row):
    engine: str = "vllm"
    workload: str
    constrained: bool | None = None
    prefix_caching: bool | None = None
    concurrency: int | None = None
    valid_rate: float | None = None
    hit_rate: float | None = None
    ttft_p50_ms: float | None = None
    tpot_p50_ms: float | None = None


class SessionTurnRow(Row):
    """``load.sessions.TurnRow`` of one engine: a turn across every chat."""

    engine: str
    turn: int
    ttft_p50_ms: float | None = None
    prompt_tokens_mean: float | None = None
    hit_rate: float | None = None  # None: the engine exposed no prefix-cache counters


class Day3Steps(Steps):
    comparison: list[ComparisonRow] | None = None
    sessions: list[SessionTurnRow] | None = None  # absent before 2026-12-04 (afternoon)
    # a pivot table's rows; pandas names its columns "('tpot_p50_ms', True)" (metric, constrained): shown, not read
    structured_overhead: list[dict[str, float | int | None]] | None = None
    prefix_cache_warnings: dict[str, str] | None = None  # by "<workload>/<on|off>"


class Day3Result(DayResult):
    day: Literal[3] = 3
    steps: Day3Steps

    def rows(self, engine: str | None = None, workload: str | None = None, **match: Any) -> list[ComparisonRow]:
        """Comparison rows of one engine and workload whose columns equal ``match``."""
        return [r for r in self.steps.comparison or []
                if (engine is None or r.engine == engine) and (workload is None or r.workload == workload)
                and all(getattr(r, k, None) == v for k, v in match.items())]  # fmt: skip

    def engines(self) -> list[str]:
        """The engines with rows, the run's own first (its rows come first: the comparison section runs last)."""
        return list(dict.fromkeys(r.engine for r in self.steps.comparison or []))

    def prefix_hit_rate(self, engine: str = "vllm") -> float | None:
        """One engine's prefix-cache hit rate on the shared-prefix workload, caching on."""
        row = next(iter(self.rows(engine, "shared-prefix", prefix_caching=True)), None)
        return row.hit_rate if row else None


# Day 4 --------------------------------------------------------------------------------------------------------------


class GateCheck(Row):
    name: str
    model: str
    change: float | None = None


class Gate(Row):
    checks: list[GateCheck] = []
    verdicts: dict[str, str] = {}


class QuantizedServingStep(Row):
    mode: Literal["w4a16", "dequantized"]
    reason: str
    speed: str


class CandidateRecord(Row):
    """``days.day4``'s measurement of one checkpoint: size, perplexity, task accuracy, greedy tokens."""

    label: str
    dtype: str | None = None
    method: str | None = None
    disk_bytes: int | None = None
    weight_memory_bytes: int | None = None
    perplexity: float | None = None
    accuracy: float | None = None


class FitRow(Row):
    model: str
    fits: bool


class HeldOutText(Row):
    """``days.quality.windows_source``: which prose the perplexity read (compare rises, not perplexities)."""

    text: str
    windows_sha256: str
    windows: int
    tokens: int


class Day4Steps(Steps):
    DYNAMIC: ClassVar[tuple[str, ...]] = (r"quantize_.+",)
    quantized_serving: QuantizedServingStep | None = None
    models: dict[str, CandidateRecord] | None = None  # by label
    gate: Gate | None = None
    fit_24gb: list[FitRow] | None = None
    held_out: HeldOutText | None = None


class Day4Result(DayResult):
    day: Literal[4] = 4
    steps: Day4Steps


# Day 5 --------------------------------------------------------------------------------------------------------------


class SharingAttempt(Row):
    label: str
    output_tok_s: float | None = None


class Pitfall4(Row):
    attempts: list[SharingAttempt] = []


class ProfileManifests(Row):
    profile: str
    engine: str
    problems: str


class ActionlintRecord(Row):
    exit_code: int
    output: str


class HealthRecord(Row):
    """``serving.healthcheck.HealthReport``: ok, the reason, and every step it took."""

    ok: bool
    reason: str
    steps: list[Row] = []

    @model_validator(mode="before")
    @classmethod
    def _from_json_text(cls, value: Any) -> Any:
        """Reports before 2026-12-04 kept the report as a JSON string inside metrics.json."""
        return json.loads(value) if isinstance(value, str) else value


class Day5Steps(Steps):
    DYNAMIC: ClassVar[tuple[str, ...]] = (r"diff_.+_vs_.+",)
    article_manifest_problems: list[str] | None = None
    manifests: dict[str, str] | None = None  # "<engine>/<kind>" -> the manifest file
    all_profiles: list[ProfileManifests] | None = None
    actionlint: ActionlintRecord | None = None
    healthcheck: HealthRecord | None = None
    pitfall4_two_instances_one_gpu: Pitfall4 | None = None


class Day5Result(DayResult):
    day: Literal[5] = 5
    steps: Day5Steps


# Day 6 --------------------------------------------------------------------------------------------------------------


class TrafficRow(Row):
    traffic: str
    output_tok_s: float | None = None


class EngineLoraStep(Row):
    """``day6.EngineLora``: another engine serving the same adapters."""

    engine: str
    routes: dict[str, bool] = {}
    mixed_traffic: list[TrafficRow] = []


class RoutingRow(Row):
    """One ``model`` field sent: how often each adapter's behaviour showed (columns "<adapter> behaviour")."""

    model: str
    answers: int


class LoraNameRecord(Row):
    answer: str | None = None
    ignored: bool


class LoraModulesAttempt(Row):
    argv: list[str]
    accepted: bool
    said: str


class Day6Steps(Steps):
    adapters: dict[str, str] | None = None  # adapter name -> its folder
    refusals: dict[str, str] | None = None  # the bad adapter -> what the engine answered
    routing: list[RoutingRow] | None = None
    article_lora_name: LoraNameRecord | None = None
    article_lora_modules: list[LoraModulesAttempt] | None = None
    mixed_traffic: list[TrafficRow] | None = None
    # another engine serving the same adapters: ``<engine>_multi_lora`` (SGLang beside vLLM, or vLLM beside SGLang)
    sglang_multi_lora: EngineLoraStep | None = None
    vllm_multi_lora: EngineLoraStep | None = None


class Day6Result(DayResult):
    day: Literal[6] = 6
    steps: Day6Steps

    def mixed_over_base(self, engine: str | None = None) -> float | None:
        """Output throughput of traffic spread over the adapters, as a share of the base model's alone: the day's
        own engine, or ``engine`` where the day also served the adapters on it (SGLang beside vLLM)."""
        other = getattr(self.steps, f"{engine}_multi_lora", None) if engine else None
        if engine is None:
            traffic = self.steps.mixed_traffic
        elif other and other.engine == engine:
            traffic = other.mixed_traffic
        else:
            return None
        rows = {r.traffic: r for r in traffic or []}
        base, mixed = rows.get("base only"), rows.get("uniform over adapters")
        if base and mixed and base.output_tok_s and mixed.output_tok_s is not None:
            return mixed.output_tok_s / base.output_tok_s
        return None


# Day 7 --------------------------------------------------------------------------------------------------------------


class SweepRow(Row):
    concurrency: int
    status: LoadStatus
    waves: float | None = None  # requests / concurrency; absent in files written before the steady-state sweep
    measured: str | None = None  # "steady state" or "whole run"
    output_tok_s: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    tpot_p50_ms: float | None = None
    rounds: int | None = None  # absent before rounds existed: one round
    output_tok_s_low: float | None = None  # the rounds' lowest and highest throughput (several rounds only)
    output_tok_s_high: float | None = None
    prefix_cache_hit_rate: float | None = None  # absent before 2026-12-03, or where the engine exposes no counters
    cache_contaminated: bool | None = None  # True: more cache hits than the workload shares: not used by selection


class Roofline(Row):
    tpot_floor_ms: float
    tpot_measured_ms: float | None = None
    ratio: float | None = None


class Peak(Row):
    status: LoadStatus
    summary: LatencySummary


class BaselineComparison(Row):
    regressed: bool = False


class WorkloadRecord(Row):
    dataset: str
    input_tokens: int
    output_tokens: int
    seed: int


class RateStepRow(Row):
    offered_rps: float
    achieved_rps: float | None = None
    goodput: float | None = None
    sustained: bool
    output_tok_s: float | None = None


class RateSearchRecord(Row):
    """``load.ratesweep.RateSearch``: every step, the highest rate that held, how the search ended."""

    steps: list[RateStepRow] = []
    max_sustained_rps: float | None = None
    first_failed_rps: float | None = None
    ended: str
    slo_ttft_ms: float | None = None  # these three are absent in runs before 2026-12-04 (afternoon)
    slo_tpot_ms: float | None = None
    goodput_min: float | None = None

    def sustained_step(self) -> RateStepRow | None:
        held = [s for s in self.steps if s.sustained and s.offered_rps == self.max_sustained_rps]
        return held[-1] if held else None

    def meaning(self) -> str:
        """What the sustained rate promises, in words: "90 % of requests within TTFT ≤ 2000 ms"."""
        slos = [f"{name} ≤ {value:g} ms" for name, value in (("TTFT", self.slo_ttft_ms), ("TPOT", self.slo_tpot_ms))
                if value is not None]  # fmt: skip
        share = f"{self.goodput_min:.0%}" if self.goodput_min is not None else "the search's share"
        return f"{share} of requests within {' and '.join(slos) or 'its SLOs'}"


class Day7Steps(Steps):
    workload: WorkloadRecord | None = None
    server: ServerRecord | None = None
    sweep: list[SweepRow] | None = None
    knee_concurrency: int | None = None
    sweep_end: str | None = None  # how the sweep ended: its listed levels, or where extend_to_knee stopped and why
    roofline: Roofline | None = None
    peak: Peak | None = None
    baseline_identity: BaselineIdentity | None = None
    baseline_comparison: BaselineComparison | None = None
    rate_search: RateSearchRecord | None = None  # absent before 2026-12-04, or where rate_sweep is off


class Day7Result(DayResult):
    day: Literal[7] = 7
    steps: Day7Steps

    def level(self, concurrency: int) -> SweepRow | None:
        return next((r for r in self.steps.sweep or [] if r.concurrency == concurrency), None)


# Day 8: the selection report -----------------------------------------------------------------------------------------


class MeasuredVerdictRecord(Row):
    """``playbook.days.verdict.MeasuredVerdict`` as Day 8 records it (capacities and costs stay as written)."""

    engine: str | None = None
    reason: str
    tie: bool = False
    article_engine: str | None = None
    agreement: str | None = None
    missing: list[str] = []


class ScalingRecord(Row):
    """``playbook.days.verdict.Scaling``: the verdict's replicas and per-replica concurrency."""

    engine: str
    min_replicas: int
    max_replicas: int
    target_concurrency: int | None = None
    capacity_tok_s: float
    why: list[str] = []


class DeploymentRecord(Row):
    """``playbook.days.verdict.Deployment``: the KServe manifest rendered from the verdict, and its validation."""

    engine: str
    scaling: ScalingRecord | None = None
    manifest_yaml: str
    problems: list[str] = []


class Questionnaire(Row):
    """``days.selection.Workload``: the team's answers the selection weighs."""

    daily_output_tokens: int
    structured_share: float
    shared_prefix_share: float
    ttft_slo_ms: float | None = None
    tpot_slo_ms: float | None = None


class DecisionRecord(Row):
    """``days.selection.Decision``: the article's tree applied to the answers and the evidence."""

    engine: str
    runner_up: str | None = None
    rule: str
    evidence: list[str] = []
    missing: list[str] = []


class CostRow(Row):
    engine: str | None = None  # absent in "cost" (the run's own engine)
    basis: str | None = None  # where output_tok_s comes from, in words (absent before 2026-12-04: the sweep)
    concurrency: int | None = None  # the sweep level it came from; None where it came from the rate search
    sustained_rps: float | None = None  # the rate search's sustained request rate, where it came from there
    output_tok_s: float
    usd_per_device_hour: float
    usd_per_million_output_tokens: float | None = None


class SizingRow(Row):
    gpu: str
    model: str
    precision: str
    gpus_needed: int | None = None  # None: not even 8 cards of this class hold it


class Day8Steps(Steps):
    measured_verdict: MeasuredVerdictRecord | None = None
    deployment: DeploymentRecord | None = None
    workload: Questionnaire | None = None
    evidence_run: str | None = None
    evidence_table: list[dict[str, str]] | None = None  # "dimension" and one "<engine> (measured)" column each
    decision: DecisionRecord | None = None
    cost: CostRow | None = None
    cost_by_engine: list[CostRow] | None = None
    compare_runs: dict[str, str] | None = None  # engine -> the run its Day 7 came from
    comparison: str | None = None  # compare.json whose alternating rounds gave each engine's capacity
    sizing: list[SizingRow] | None = None


class Day8Result(DayResult):
    day: Literal[8] = 8
    steps: Day8Steps


# The multi-GPU benchmark (playbook.run.multigpu) ----------------------------------------------------------------


class MultiGpuVariant(Row):
    variant: str
    status: str
    levels: list[SweepRow] = []

    def level(self, concurrency: int) -> SweepRow | None:
        return next((lv for lv in self.levels if lv.concurrency == concurrency), None)


class MultiGpuSummary(Row):
    """``multigpu.json``: one sweep per parallelism variant on the same machine and workload."""

    variants: list[MultiGpuVariant]

    def variant(self, name: str) -> MultiGpuVariant | None:
        return next((v for v in self.variants if v.variant == name), None)


def load_multigpu_summary(path: Path) -> MultiGpuSummary:
    try:
        return MultiGpuSummary.model_validate_json(Path(path).read_text())
    except (OSError, ValidationError) as exc:
        raise ResultSchemaError(f"{path}: not a multi-GPU summary ({str(exc).splitlines()[0]})") from None


class Comparison(BaseModel):
    """``compare.json`` of ``playbook.run.compare``: engines measured side by side in alternating rounds; the
    selection reads each engine's per-level rows (median and spread of its rounds)."""

    model_config = ConfigDict(extra="allow")
    profile: str
    engines: list[str]
    rounds: int
    status: str
    summary: ComparisonSummary


class ComparisonSummary(BaseModel):
    model_config = ConfigDict(extra="allow")
    levels: dict[str, list[SweepRow]]


def load_comparison(path: Path) -> Comparison:
    try:
        return Comparison.model_validate_json(Path(path).read_text())
    except (OSError, ValidationError) as exc:
        raise ResultSchemaError(f"{path}: not a compare.json of playbook.run.compare "
                                f"({str(exc).splitlines()[0]})") from None  # fmt: skip


RESULT_TYPES: dict[int, type[DayResult]] = {
    1: Day1Result, 2: Day2Result, 3: Day3Result, 4: Day4Result, 5: Day5Result, 6: Day6Result, 7: Day7Result,
    8: Day8Result,
}  # fmt: skip


def parse_day_result(data: dict[str, Any], source: str = "metrics.json") -> DayResult:
    """A metrics.json's content as its day's typed result, or a one-line :class:`ResultSchemaError`."""
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ResultSchemaError(
            f"{source}: schema_version {version}, but this playbook reads version {SCHEMA_VERSION}: "
            "re-run that day, or read it with the release that wrote it"
        )
    result_type = RESULT_TYPES.get(data.get("day"))  # type: ignore[arg-type]
    if result_type is None:
        raise ResultSchemaError(f"{source}: day {data.get('day')!r} is not a day of the week (1-8)")
    try:
        return result_type.model_validate(data)
    except ValidationError as exc:
        raise ResultSchemaError(f"{source}: {first_problem(exc)} ({exc.error_count()} problem(s))") from None


def step_problem(day: int, step: str, value: Any) -> str | None:
    """Why ``value`` (JSON-shaped) cannot be day ``day``'s step ``step``; None where it fits (or the day has no
    model). The recorder asks before it saves, so a misfit fails in the cell that made it."""
    result_type = RESULT_TYPES.get(day)
    if result_type is None:
        return None
    steps_type: type[Steps] = result_type.model_fields["steps"].annotation  # type: ignore[assignment]
    try:
        steps_type.model_validate({step: value})
    except ValidationError as exc:
        return first_problem(exc)
    return None


def load_day_result(path: Path) -> DayResult:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ResultSchemaError(f"{path}: cannot be read as JSON ({exc})") from None
    return parse_day_result(data, str(path))
