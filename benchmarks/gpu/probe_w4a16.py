"""Can the profile's engine serve Day 4's W4A16 checkpoints? One start on each, one greedy answer and one prompt
score, or the start's failure with its log's tail.

Why: a whole Day 4 on SGLang (its original, then each checkpoint, each measured) takes two starts and about
seven minutes of a lease, and SGLang 0.5.14's source suggests its Marlin W4A16 kernel has no thread configuration
for SmolLM2's 576-wide projections. This answers that question in one start a checkpoint, with the very argv Day 4
would use (``days.context.variant_profile`` at Day 4's activation dtype), so a lease too short for the day still
comes back with the measured reason, or with the news that the day is worth its minutes.

    python benchmarks/gpu/probe_w4a16.py h100-smollm2 --set engine=sglang --set 'days.day4.methods=[awq]' --out DIR

The checkpoints must be in the cache under Day 4's key (``stage_day4.py`` packs them); the GPU has no quantizer.
Writes ``DIR/probe.json`` and one server log a checkpoint.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from playbook.core.errors import PlaybookError
from playbook.core.profiles import load_profile
from playbook.days import quantize
from playbook.days.context import variant_profile
from playbook.days.day4 import dequantized_dtype, starts_eager
from playbook.load.client import make_client
from playbook.load.greedy import prompt_token_logprobs, server_greedy
from playbook.serving.launcher import launch
from playbook.sizing.models import prepare_model

PROMPT = "What is the capital of France?"
KERNEL_LINES = re.compile(r"marlin|wna16|linearkernel|compressed.tensors|thread config", re.IGNORECASE)


def probe(profile, method: str, folder: str, out: Path) -> dict:
    """One start on ``folder`` at Day 4's activation dtype: the answer and a prompt score, or the failure."""
    variant = variant_profile(profile, profile.engine, dtype=dequantized_dtype(profile),
                              enforce_eager=starts_eager(profile))  # fmt: skip
    log = out / f"server-{method}.log"
    record: dict = {"method": method, "checkpoint": Path(folder).name, "dtype": variant.engine_spec.dtype}
    try:
        server = launch(variant, folder, log)
    except PlaybookError as exc:
        return {**record, "status": "failed to start", "error": str(exc)[-1500:], "kernel_lines": kernel_lines(log)}
    try:
        record.update(started_s=server.started_s, argv=list(server.argv))
        prompt_ids, answer_ids, text = server_greedy(make_client(server), profile.model.served_name, PROMPT, 16)
        scores = prompt_token_logprobs(server.endpoint.with_model(profile.model.served_name), server.engine,
                                       [*prompt_ids, *answer_ids])  # fmt: skip
        answer_scores = scores[len(prompt_ids) - 1 :]  # scores start at the second prompt token
        mean = sum(answer_scores) / len(answer_scores) if answer_scores else None
        record.update(status="served", answer=text, answer_tokens=len(answer_ids), mean_answer_logprob=mean)
    except Exception as exc:  # a server that dies on its first request: the reason is the probe's answer
        record.update(status="failed on a request", error=f"{type(exc).__name__}: {exc}"[-1500:],
                      log_tail=log.read_text(errors="replace").splitlines()[-25:])  # fmt: skip
    finally:
        server.stop()
    return {**record, "kernel_lines": kernel_lines(log)}


def kernel_lines(log: Path) -> list[str]:
    """The log's lines that name the quantized kernel, the last 30: which kernel served, or which one refused."""
    if not log.exists():
        return []
    lines = log.read_text(errors="replace").splitlines()
    return [line.strip()[:300] for line in lines if KERNEL_LINES.search(line)][-30:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--out", type=Path, default=Path("probe-w4a16"))
    args = parser.parse_args()
    profile = load_profile(args.profile, args.overrides)
    prepared = prepare_model(profile.model)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for method in profile.days.day4.methods:
        made = quantize.quantize(profile.days.day4, method, prepared.local_dir, prepared.sha256,
                                 args.out / f"quantize-{method}.log", seed=profile.seed)  # fmt: skip
        results.append(probe(profile, method, made.path, args.out))
        (args.out / "probe.json").write_text(json.dumps({"engine": profile.engine, "results": results}, indent=2))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "argv"}, indent=2), flush=True)


if __name__ == "__main__":
    main()
