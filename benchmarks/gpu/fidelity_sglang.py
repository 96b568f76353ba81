"""Fidelity against SGLang: does the playbook's load generator measure an SGLang server as SGLang's own client does?

One SGLang server (the profile's, launched by the playbook), the same prompts and output length for both clients,
through the same endpoint (/v1/chat/completions, ignore_eos). At each concurrency the playbook's client and
``python -m sglang.bench_serving`` run alternately, ROUNDS times each; the table gives the medians of the rounds and
the ratio ours / SGLang's (target 0.95-1.05, as against vLLM's client). Both report whole-run numbers here (the same
definitions: median TTFT, median TPOT, output tokens / wall time), not Day 7's steady window.

Cache state is controlled, so both clients measure the same thing: SGLang's radix cache is flushed
(``POST /flush_cache``) before every round of either client, and no prompt is pre-sent. The first round of
2026-11-30 pre-sent every prompt once, so both clients met fully cached prompts; it was 23-31 % apart at c=256
with no record to say why. Now every round's per-request records of both clients are kept (``records/``, gzip:
ours as ``requests.jsonl``, SGLang's from ``--output-details`` without the generated texts), so a gap can be
traced to the requests that make it.

Runs on the lent GPU through device_fidelity_sglang.sh. Every finished level is appended to OUT/fidelity.jsonl at
once, so a call that runs out of time still brings back what it measured.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from _common import median, print_table

from playbook.core.profiles import load_profile
from playbook.load.datasets import build_requests
from playbook.load.loadgen import LoadConfig, run_load
from playbook.serving.endpoint import Endpoint
from playbook.serving.launcher import launch
from playbook.sizing.models import prepare_model


def sglang_bench(python: str, env: dict[str, str], base_url: str, model: str, tokenizer: str, prompts: Path, n: int,
                 concurrency: int, output_tokens: int, records: Path) -> dict:  # fmt: skip
    """One ``sglang.bench_serving`` run over the prompts file; its JSONL result line (per-request details, less
    the generated texts, go gzipped to ``records``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.jsonl"
        args = ["--backend", "sglang-oai-chat", "--base-url", base_url, "--model", model, "--tokenizer", tokenizer,
                "--dataset-name", "custom", "--dataset-path", str(prompts), "--sharegpt-output-len", str(output_tokens),
                "--num-prompts", str(n), "--max-concurrency", str(concurrency), "--warmup-requests", "0",
                "--output-file", str(out), "--output-details", "--disable-tqdm", "--seed", "0"]  # fmt: skip
        done = subprocess.run([python, "-m", "sglang.bench_serving", *args], capture_output=True, text=True, env=env)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"sglang.bench_serving failed:\n{done.stdout[-1500:]}\n{done.stderr[-2500:]}")
        result = json.loads(out.read_text().strip().splitlines()[-1])
        details = {k: v for k, v in result.items() if k != "generated_texts"}
        with gzip.open(records, "wt") as sink:
            sink.write(json.dumps(details) + "\n")
        return result


def flush_cache(base_url: str) -> bool:
    """Empty SGLang's radix cache (refused while requests run: the rounds are sequential, so none does)."""
    reply = httpx.post(base_url + "/flush_cache", timeout=60)
    return reply.status_code == 200


def keep_ours(run_dir: Path, records: Path) -> None:
    with (run_dir / "requests.jsonl").open("rb") as source, gzip.open(records, "wb") as sink:
        shutil.copyfileobj(source, sink)


def medians(runs: list[tuple[float, float, float]]) -> list[float]:
    return [median([run[i] for run in runs]) for i in range(3)]


def measure_level(base_url, model, python, env, tokenizer, samples, concurrency, args, tmp: Path):
    """The two clients in turn, ``args.rounds`` times, each round on a flushed cache: (TTFT p50, TPOT p50, tok/s)
    per round each; every round's per-request records kept under ``args.out/records``."""
    n = len(samples)
    prompts = tmp / f"prompts-{concurrency}.jsonl"
    rows = ({"conversations": [{"content": s.messages[-1]["content"]}, {"content": ""}]} for s in samples)
    prompts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    endpoint = Endpoint(base_url, model)
    config = LoadConfig(concurrency=concurrency, scrape_interval_s=None)
    records = args.out / "records"
    records.mkdir(parents=True, exist_ok=True)
    ours, theirs, flushed = [], [], []
    for r in range(1, args.rounds + 1):
        flushed.append(flush_cache(base_url))
        run_dir = tmp / f"ours-{concurrency}-{r}"
        s = run_load(endpoint, config, samples, run_dir, desc=f"ours c={concurrency}").summary
        keep_ours(run_dir, records / f"ours-c{concurrency:04d}-r{r}.jsonl.gz")
        ours.append((s.ttft.p50_ms, s.tpot.p50_ms, s.output_throughput_tok_s))
        flushed.append(flush_cache(base_url))
        b = sglang_bench(python, env, base_url, model, tokenizer, prompts, n, concurrency, args.output_tokens,
                         records / f"sglang-c{concurrency:04d}-r{r}.json.gz")  # fmt: skip
        theirs.append((b["median_ttft_ms"], b["median_tpot_ms"], b["output_throughput"]))
    return ours, theirs, flushed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="h100-qwen2.5-7b-dummy")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--levels", default="256,1000,64,1", help="the most telling first: a call may run out")
    parser.add_argument("--rounds", type=int, default=3)
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
            ours, theirs, flushed = measure_level(server.base_url, profile.model.served_name, spec.python, env,
                                                  model.local_dir, samples[: n_for[c]], c, args, Path(tmp))  # fmt: skip
            with (args.out / "fidelity.jsonl").open("a") as sink:
                sink.write(json.dumps({"concurrency": c, "requests": n_for[c], "ours": ours,
                                       "sglang_bench_serving": theirs, "cache_flushed": flushed}) + "\n")  # fmt: skip
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
