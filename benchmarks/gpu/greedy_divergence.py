"""Where a speculative run's greedy output parts from the plain run's, and whether that token was a near-tie.

Day 2's lossless check compares greedy token ids with and without speculation; any difference fails it. On a
GPU in 16-bit a verify pass (several positions at once) and a decode pass (one) may round a near-tie apart, which
is numerics, not a lossy method. This reads a committed Day 2 run, rebuilds its lossless prompts with the code of
the run's commit (on the path), finds where each speculative output first differs from the plain one, and scores
that position on this machine in float32 with transformers: the two candidate tokens' logits and their margin,
and which one float32 picks. A margin far below the 16-bit rounding of the logits says near-tie; a wide one says
the method changed the output.

    PYTHONPATH=/tmp/w499/lib .venv/bin/python benchmarks/gpu/greedy_divergence.py \\
        reference/h200-2026-12-04c/sglang-day2-failed ngram-k4 --set engine=sglang
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from playbook.core.profiles import load_profile
from playbook.days import day2
from playbook.load.greedy import prefix_agreement
from playbook.sizing.models import prepare_model


def lossless_prompts(profile) -> tuple[list[str], str]:
    """The run's lossless prompts, rebuilt as its notebook built them (same settings, seed and data)."""
    settings, prepared = profile.days.day2, prepare_model(profile.model)
    workloads = {w: day2.workload_requests(w, day2.requests_needed(settings), profile.seed, prepared.local_dir,
                                           settings.output_tokens) for w in settings.workloads}  # fmt: skip
    if hasattr(day2, "lossless_prompts"):
        return day2.lossless_prompts(settings, workloads), prepared.local_dir
    # before day2.lossless_prompts (499cf7d): the notebook took the first half of the count from each workload
    half = settings.lossless_prompts // 2
    return [r.messages[-1]["content"] for w in workloads.values() for r in w[:half]], prepared.local_dir


def first_difference(a: list[int], b: list[int]) -> int | None:
    """The first position where ``a`` and ``b`` differ; None where they agree as far as both go."""
    common, _ = prefix_agreement(a, b)
    return None if common >= min(len(a), len(b)) else common


@torch.no_grad()
def greedy(model, ids: list[int], n: int) -> list[int]:
    out = model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, min_new_tokens=n)
    return out[0, len(ids) :].tolist()


@torch.no_grad()
def candidates(model, context: list[int], tokens: tuple[int, int]) -> dict:
    """The next-token logits after ``context``: the two tokens', their margin and this machine's own pick."""
    logits = model(torch.tensor([context])).logits[0, -1].float()
    top = torch.topk(logits, 2)
    return {"plain_token": tokens[0], "spec_token": tokens[1], "plain_logit": round(float(logits[tokens[0]]), 4),
            "spec_logit": round(float(logits[tokens[1]]), 4),
            "margin": round(abs(float(logits[tokens[0]] - logits[tokens[1]])), 4),
            "local_pick": int(top.indices[0]),
            "top2_gap": round(float(top.values[0] - top.values[1]), 4)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder with day02/metrics.json")
    parser.add_argument("method", help="the speculative method's name in that run")
    parser.add_argument("--profile", default="h100-smollm2")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--dtype", default="float32", help="score in this dtype on the CPU (float16: near the run's)")
    args = parser.parse_args()
    steps = json.loads((args.run / "day02" / "metrics.json").read_text())["steps"]
    plain, spec = steps["run_none"]["greedy_token_ids"], steps[f"run_{args.method}"]["greedy_token_ids"]
    prompts, local_dir = lossless_prompts(load_profile(args.profile, args.overrides))
    tokenizer = AutoTokenizer.from_pretrained(local_dir)
    model = AutoModelForCausalLM.from_pretrained(local_dir, dtype=getattr(torch, args.dtype)).eval()
    rows = []
    for k, (prompt, a, b) in enumerate(zip(prompts, plain, spec, strict=True)):
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True)
        ids = list(ids["input_ids"] if isinstance(ids, Mapping) else ids)  # transformers 5: a BatchEncoding
        local = greedy(model, ids, len(a))
        row = {"prompt": k, "tokens": len(a), "spec_parts_at": first_difference(a, b),
               "local_parts_from_plain_at": first_difference(local, a), "dtype": args.dtype}  # fmt: skip
        at = row["spec_parts_at"]
        if at is not None:
            row.update(candidates(model, ids + a[:at], (a[at], b[at])))
        rows.append(row)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
