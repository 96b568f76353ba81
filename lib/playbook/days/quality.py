"""Day 4's quality measures, each taken through the serving engine so the original and the
quantized model go through exactly the same code path.

* Perplexity on held-out prose (CPython's ``pydoc_data.topics``, which ships everywhere and is
  never used for calibration): token ids in, each prompt token's log-probability out (in the engine's dialect).
* Greedy agreement: the share of the first N greedy tokens the quantized model shares with
  the original (the common prefix: after the first different token the texts diverge).
* Task accuracy: Day 3's extraction tasks, scored against their known answers.
* The gate: each measure against a profile threshold, PASS/FAIL.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import openai

from playbook.core.errors import PlaybookError
from playbook.core.profiles import QualityGate
from playbook.days.structured import Task, score, to_sample
from playbook.load.datasets import TokenCounter, iter_sharegpt, prose_tokens
from playbook.load.greedy import prefix_agreement, prompt_token_logprobs, server_greedy
from playbook.serving.endpoint import Endpoint


def perplexity(token_logprobs: list[float]) -> float:
    """exp of the mean negative log-likelihood per token (natural log)."""
    if not token_logprobs:
        raise PlaybookError("perplexity of zero tokens is undefined: no prose window reached the server")
    return math.exp(-sum(token_logprobs) / len(token_logprobs))


def held_out_windows(tokenizer_dir: str, windows: int, window_tokens: int) -> list[list[int]]:
    """Fixed, evenly spaced token windows over pydoc's topics (sorted, so the same for one Python release;
    the text changes between releases: compare perplexities only within one run, see ``windows_source``)."""
    encoded = prose_tokens(TokenCounter(tokenizer_dir))
    stride = max((len(encoded) - window_tokens) // windows, 1)
    return [list(encoded[i * stride : i * stride + window_tokens]) for i in range(windows)]


def windows_source(windows: list[list[int]]) -> dict[str, Any]:
    """Which text the perplexity was measured on: the interpreter whose pydoc_data it read (regenerated for
    each CPython release), and a digest of the token windows. Reports with different digests measured
    different prose: compare their perplexity rises, not their perplexities (the H200 run read Python 3.12's
    text, the CPU runs 3.11's; their originals scored 15.9 and 18.3)."""
    digest = hashlib.sha256(json.dumps(windows).encode()).hexdigest()[:12]
    return {"text": f"pydoc_data.topics of Python {platform.python_version()}", "windows_sha256": digest,
            "windows": len(windows), "tokens": sum(len(w) for w in windows)}  # fmt: skip


def measure_perplexity(endpoint: Endpoint, engine: str, windows: list[list[int]]) -> dict[str, Any]:
    logprobs = [lp for window in windows for lp in prompt_token_logprobs(endpoint, engine, window)]
    return {"perplexity": perplexity(logprobs), "tokens_scored": len(logprobs), "windows": len(windows)}


def greedy_prompts(n: int, skip: int = 500) -> list[str]:
    """Short first questions from ShareGPT, past the conversations calibration may read."""
    prompts = []
    for index, item in enumerate(iter_sharegpt()):
        turns = item.get("conversations", [])
        first = turns[0].get("value", "").strip() if turns else ""
        if index >= skip and 20 <= len(first) <= 200 and first.isascii():
            prompts.append(first)
            if len(prompts) == n:
                break
    return prompts


def greedy_outputs(client: openai.OpenAI, model: str, prompts: list[str], max_tokens: int) -> list[list[int]]:
    return [server_greedy(client, model, prompt, max_tokens)[1] for prompt in prompts]


def greedy_agreement(reference: list[list[int]], candidate: list[list[int]]) -> dict[str, Any]:
    """Mean shared-prefix share, and the share of prompts whose first N tokens are identical."""
    shares = [prefix_agreement(a, b)[1] for a, b in zip(reference, candidate, strict=True)]
    identical = sum(share == 1.0 for share in shares)
    return {"mean_prefix_agreement": sum(shares) / len(shares), "identical_rate": identical / len(shares),
            "per_prompt": shares}  # fmt: skip


TASK_CONCURRENCY = 8  # the tasks go out together: one at a time, 10 answers took ~13 s a model on 2 cores


def task_accuracy(
    client: openai.OpenAI, model: str, engine: str, tasks: list[Task], max_tokens: int = 64
) -> dict[str, Any]:
    """Constrained extraction (Day 3's tasks, in ``engine``'s request dialect): the grammar fixes the format, so
    the score is what the model got right, not whether it remembered to answer in JSON. Up to
    :data:`TASK_CONCURRENCY` at once, the same for every model, so the models are scored alike."""

    def answer(task: Task) -> str:
        sample = to_sample(task, constrained=True, engine=engine, max_tokens=max_tokens)  # Day 3's very request
        reply = client.chat.completions.create(model=model, messages=sample.messages, max_tokens=sample.max_tokens,
                                               temperature=0, extra_body=sample.extra_body)  # fmt: skip
        return reply.choices[0].message.content or ""

    with ThreadPoolExecutor(max_workers=TASK_CONCURRENCY) as pool:
        scores = [score(task, text) for task, text in zip(tasks, pool.map(answer, tasks), strict=True)]
    return {"accuracy": sum(s.field_accuracy for s in scores) / len(scores), "tasks": len(scores),
            "valid_rate": sum(s.schema_valid for s in scores) / len(scores)}  # fmt: skip


@dataclass(frozen=True)
class GateCheck:
    name: str
    original: float
    quantized: float
    change: float
    threshold: str
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_gate(original: dict[str, Any], quantized: dict[str, Any], gate: QualityGate) -> list[GateCheck]:
    """``original``/``quantized``: {"perplexity", "accuracy", "greedy_agreement"} as measured."""
    rise = (quantized["perplexity"] / original["perplexity"] - 1) * 100
    drop = original["accuracy"] - quantized["accuracy"]
    agreement = quantized["greedy_agreement"]
    return [
        GateCheck("perplexity (held-out prose)", original["perplexity"], quantized["perplexity"], rise,
                  f"rise <= {gate.max_perplexity_increase_pct:g} %", rise <= gate.max_perplexity_increase_pct),
        GateCheck("greedy agreement with the original", 1.0, agreement, agreement - 1.0,
                  f">= {gate.min_greedy_agreement:g}", agreement >= gate.min_greedy_agreement),
        GateCheck("extraction accuracy", original["accuracy"], quantized["accuracy"], -drop,
                  f"drop <= {gate.max_accuracy_drop:g}", drop <= gate.max_accuracy_drop),
    ]  # fmt: skip


def verdict(checks: list[GateCheck]) -> str:
    return "PASS" if all(c.passed for c in checks) else "FAIL"
