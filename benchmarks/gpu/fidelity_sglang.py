"""Fidelity against SGLang: does the playbook's load generator measure an SGLang server as SGLang's own client does?

One SGLang server (the profile's, launched by the playbook), the same prompts and output length for both clients,
through the same endpoint (/v1/chat/completions, ignore_eos). At each concurrency the playbook's client and
``python -m sglang.bench_serving`` run alternately, ROUNDS times each; the table gives the medians of the rounds and
the ratio ours / SGLang's (target 0.95-1.05, as against vLLM's client). Both report whole-run numbers here (the same
definitions: median TTFT, median TPOT, output tokens / wall time), not Day 7's steady window.

Runs on the lent GPU through device_fidelity_sglang.sh. Every finished level is appended to OUT/fidelity.jsonl at
once, so a call that runs out of time still brings back what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import median, print_table

from playbook.core.profiles import load_profile
from playbook.load.datasets import build_requests
from playbook.load.loadgen import LoadConfig, run_load
from playbook.serving.launcher import launch
from playbook.sizing.models import prepare_model


def sglang_bench(python: str, env: dict[str, str], base_url: str, model: str, tokenizer: str, prompts: Path, n: int,
                 concurrency: int, output_tokens: int) -> dict:  # fmt: skip
    """One ``sglang.bench_serving`` run over the prompts file; its JSONL result line."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.jsonl"
        args = ["--backend", "sglang-oai-chat", "--base-url", base_url, "--model", model, "--tokenizer", tokenizer,
                "--dataset-name", "custom", "--dataset-path", str(prompts), "--sharegpt-output-len", str(output_tokens),
                "--num-prompts", str(n), "--max-concurrency", str(concurrency), "--warmup-requests", "0",
                "--output-file", str(out), "--disable-tqdm", "--seed", "0"]  # fmt: skip
        done = subprocess.run([python, "-m", "sglang.bench_serving", *args], capture_output=True, text=True, env=env)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"sglang.bench_serving failed:\n{done.stdout[-1500:]}\n{done.stderr[-2500:]}")
        return json.loads(out.read_text().strip().splitlines()[-1])


def medians(runs: list[tuple[float, float, float]]) -> list[float]:
    return [median([run[i] for run in runs]) for i in range(3)]


def measure_level(base_url, model, python, env, tokenizer, samples, concurrency, args, tmp: Path):
    """Warm up, then the two clients in turn, ``args.rounds`` times: (TTFT p50, TPOT p50, tok/s) per round each."""
    n = len(samples)
    prompts = tmp / f"prompts-{concurrency}.jsonl"
    rows = ({"conversations": [{"content": s.messages[-1]["content"]}, {"content": ""}]} for s in samples)
    prompts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = LoadConfig(base_url=base_url, model=model, concurrency=concurrency, scrape_interval_s=None)
    # Every prompt once first: after it both clients meet the same (fully cached) prefixes in every round.
    run_load(config, samples, tmp / f"warm-{concurrency}", desc="warm-up")
    ours, theirs = [], []
    for r in range(1, args.rounds + 1):
        s = run_load(config, samples, tmp / f"ours-{concurrency}-{r}", desc=f"ours c={concurrency}").summary
        ours.append((s.ttft.p50_ms, s.tpot.p50_ms, s.output_throughput_tok_s))
        b = sglang_bench(python, env, base_url, model, tokenizer, prompts, n, concurrency, args.output_tokens)
        theirs.append((b["median_ttft_ms"], b["median_tpot_ms"], b["output_throughput"]))
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="h100-qwen2.5-7b-dummy")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--levels", default="256,1000,64,1", help="the most telling first: a call may run out")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--input-tokens", type=int, default=256)
    parser.add_argument("--output-tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, default=Path("fidelity-out"))
    args = parser.parse_args()

    profile = load_profile(args.profile, ["engine=sglang", *args.overrides])
    spec = profile.engines["sglang"]
    env = {**os.environ, **spec.env}
    model = prepare_model(profile.model)
    levels = [int(c) for c in args.levels.split(",")]
    n_for = {c: (16 if c == 1 else c if c >= 1000 else 4 * c) for c in levels}
    samples = build_requests("synthetic", max(n_for.values()), 0, model.local_dir, input_tokens=args.input_tokens,
                             output_tokens=args.output_tokens)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, launch(profile, model.model_arg, args.out / "server.log") as server:
        for c in levels:
            ours, theirs = measure_level(server.base_url, profile.model.served_name, spec.python, env, model.local_dir,
                                         samples[: n_for[c]], c, args, Path(tmp))  # fmt: skip
            with (args.out / "fidelity.jsonl").open("a") as sink:
                sink.write(json.dumps({"concurrency": c, "requests": n_for[c], "ours": ours,
                                       "sglang_bench_serving": theirs}) + "\n")  # fmt: skip
            mine, sglang = medians(ours), medians(theirs)
            ratios = [a / b if b else float("nan") for a, b in zip(mine, sglang, strict=True)]
            rows.append([c, n_for[c], *mine, *sglang, *ratios])
            print(f"c={c}: ours {mine}, sglang {sglang}", flush=True)
    headers = ["c", "requests", "ours TTFT p50 ms", "ours TPOT p50 ms", "ours tok/s", "SGLang TTFT p50 ms",
               "SGLang TPOT p50 ms", "SGLang tok/s", "TTFT ratio", "TPOT ratio", "tok/s ratio"]  # fmt: skip
    print(
        f"\nFidelity against sglang.bench_serving, {args.rounds} rounds a level (medians), {args.input_tokens} in / "
        f"{args.output_tokens} out, {sys.argv[0]}"
    )
    print_table(headers, rows)


if __name__ == "__main__":
    main()
