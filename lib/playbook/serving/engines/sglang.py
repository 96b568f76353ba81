"""SGLang (0.5.14 on the lent GPUs; needs ``--attention-backend triton`` there, via ``extra_args``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

from playbook.core.profiles import EngineSpec, SpecMethod
from playbook.serving.engines.base import EngineAdapter, LaunchTarget, flags_above_one

PARALLEL_FLAGS = {"tensor_parallel_size": "--tp-size", "pipeline_parallel_size": "--pp-size",
                  "data_parallel_size": "--dp-size"}  # fmt: skip

ALGORITHMS = {
    "ngram": "NGRAM", "draft_model": "STANDALONE", "eagle": "EAGLE", "eagle3": "EAGLE3", "mtp": "EAGLE",
}  # fmt: skip


class SglangAdapter(EngineAdapter):
    name = "sglang"
    module = "sglang.launch_server"
    releases = ("0.5",)
    distributions = ("sglang",)
    install_hint = "on a GPU host: `python -m venv .venvs/sglang && .venvs/sglang/bin/pip install 'sglang[all]'`"
    dummy_weights = True
    api_key_variable = None  # SGLang 0.5 takes the key only as --api-key (redacted in every report)
    gpu_lock: ClassVar[str | None] = "gpu-sglang.lock.txt"
    metrics: ClassVar[Mapping[str, str]] = {
        "sglang:num_running_reqs": "running",
        "sglang:num_queue_reqs": "waiting",
        "sglang:token_usage": "kv_cache_usage",
    }
    info_path = "/get_server_info"
    version_path = "/get_server_info"  # carries "version" beside the server arguments
    kv_log_pattern = re.compile(r"max_total_num_tokens=(\d+)")
    # server_args.py: grpc_port = port + 10000, refused above 65535 even with gRPC off (an H200 run of 2026-11-30
    # drew port 59393 and died: "SGLANG_GRPC_PORT (69393) must be between 1 and 65535").
    highest_port = 55535
    highest_port_why = "SGLang 0.5 derives its gRPC port as --port + 10000 and refuses one above 65535"
    accelerators = ("nvidia", "amd")
    no_build_why = "SGLang has no CPU build on PyPI"

    # Counted when a request finishes: its cached prompt tokens (a label per cache tier, summed) and its prompt
    # tokens (docs/references/production_metrics.md of SGLang 0.5).
    prefix_cache_series = ("sglang:cached_tokens_total", "sglang:prompt_tokens_total")
    cache_flush_path = "/flush_cache"  # refused (non-200) while requests run
    # SGLang 0.5 exports speculative acceptance as gauges of its recent batches, not as counters.
    spec_gauges: ClassVar[Mapping[str, str]] = {
        "sglang:spec_accept_rate": "acceptance_rate",
        "sglang:spec_accept_length": "mean_accepted_length",
    }

    def constraint_body(self, kind: str, value: object) -> dict[str, object]:
        """SGLang's OpenAI server takes ``regex`` beside the messages; a choice is the regex of its alternatives."""
        if kind == "regex":
            return {"regex": value}
        if kind == "choice":
            return {"regex": "(" + "|".join(map(re.escape, value)) + ")"}
        return super().constraint_body(kind, value)

    def grammar_backend_args(self, backend: str) -> list[str] | None:
        """``--grammar-backend`` (xgrammar, outlines, llguidance); the profile's "guidance" is SGLang's llguidance."""
        known = {"xgrammar": "xgrammar", "outlines": "outlines", "guidance": "llguidance"}
        return ["--grammar-backend", known[backend]] if backend in known else None

    def lora_args(self, adapters: Mapping[str, str], max_loras: int, max_rank: int) -> list[str]:
        """``--lora-paths name=path ...``; ``--max-loras-per-batch`` is SGLang's slot count."""
        return ["--enable-lora", "--max-loras-per-batch", str(max_loras), "--max-lora-rank", str(max_rank),
                "--lora-paths", *(f"{name}={path}" for name, path in adapters.items())]  # fmt: skip

    def lora_model(self, base: str, adapter: str) -> str:
        """``<base>:<adapter>`` (SGLang 0.5's ``serving_base._parse_model_parameter``). A bare adapter name is not
        looked up: SGLang answers it with the base model, silently (Day 6 measures it)."""
        return f"{base}:{adapter}"

    def prompt_scoring_request(self, model: str, token_ids: list[int]) -> tuple[str, dict[str, object]]:
        """SGLang's native ``/generate`` with ``return_logprob`` from position 0: its OpenAI completions return
        prompt log-probabilities only through ``echo`` with ``logprobs``, which SGLang 0.5 logs as unsupported and
        points to ``/generate`` for (``serving_completions.py``)."""
        return "/generate", {"input_ids": token_ids, "sampling_params": {"max_new_tokens": 1, "temperature": 0},
                             "return_logprob": True, "logprob_start_len": 0}  # fmt: skip

    def prompt_scores(self, reply: Mapping[str, object], token_ids: list[int]) -> list[float] | None:
        """``meta_info.input_token_logprobs``: ``[logprob, token_id, text]`` per prompt token, the first null. The
        ids are checked: a reply for other tokens would score another text."""
        entries = (reply.get("meta_info") or {}).get("input_token_logprobs")  # type: ignore[union-attr]
        if entries is None:
            return None
        if [int(entry[1]) for entry in entries] != token_ids:
            raise ValueError("SGLang scored other tokens than the ones sent")
        return [float(entry[0]) for entry in entries[1:]]

    def server_args(self, spec: EngineSpec, target: LaunchTarget) -> list[str]:
        """``--mem-fraction-static`` (not the article's ``--mem_fraction_static`` with ``-- dtype``),
        ``--context-length`` for the window, and ``--enable-metrics``: SGLang serves no ``/metrics`` without it, and
        the playbook reads its queue, prefix-cache and speculation series there."""
        argv = [
            "--model-path", target.model, "--served-model-name", target.served_name,
            "--dtype", spec.dtype, "--context-length", str(spec.max_model_len),
            "--mem-fraction-static", str(spec.gpu_memory_utilization),
            "--host", target.host, "--port", str(target.port), "--enable-metrics",
        ]  # fmt: skip
        argv += flags_above_one(spec, PARALLEL_FLAGS)
        if spec.max_num_seqs:
            argv += ["--max-running-requests", str(spec.max_num_seqs)]
        if spec.enable_prefix_caching is False:
            argv.append("--disable-radix-cache")
        if spec.enforce_eager:  # no CUDA graphs in either phase (0.5.14's flags; --disable-cuda-graph is deprecated)
            argv += ["--cuda-graph-backend-decode", "disabled", "--cuda-graph-backend-prefill", "disabled"]
        if spec.speculative is not None:
            argv += speculative_args(spec.speculative)
        return argv

    def kv_capacity_from_info(self, info: object) -> int | None:
        """``max_total_num_tokens`` in /get_server_info (nested in newer releases)."""
        stack = [info]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if isinstance(item.get("max_total_num_tokens"), int):
                    return item["max_total_num_tokens"]
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        return None


def speculative_args(method: SpecMethod) -> list[str]:
    """SGLang's flags: a chain (top-k 1) of ``num_speculative_tokens`` steps.

    NGRAM (CUDA-only) takes its tree's width from ``--speculative-ngram-max-bfs-breadth`` (SGLang 0.5.14's
    ``_handle_ngram`` overwrites the top-k with it, default 10) and verifies ``--speculative-num-draft-tokens``
    (the root and the drafts): breadth 1 and n + 1 tokens make the chain of n that vLLM's ``ngram`` proposes.
    Its n-gram cache has no match-window flags, so ``prompt_lookup_min/max`` have no SGLang form. MTP runs as
    EAGLE over the model's own heads."""
    n = method.num_speculative_tokens
    algorithm = ALGORITHMS[method.method]
    if algorithm == "NGRAM":
        return ["--speculative-algorithm", algorithm, "--speculative-num-draft-tokens", str(n + 1),
                "--speculative-ngram-min-bfs-breadth", "1", "--speculative-ngram-max-bfs-breadth", "1"]  # fmt: skip
    args = ["--speculative-algorithm", algorithm, "--speculative-num-steps", str(n),
            "--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", str(n + 1)]  # fmt: skip
    if method.draft_model:
        args += ["--speculative-draft-model-path", method.draft_model]
    return args
