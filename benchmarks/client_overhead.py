"""Client overhead: how much load can the client itself drive, and what latency does it add?

A mock OpenAI streaming server (``playbook.serving.mockserver``: fixed TTFT and token rate, no
model) on 127.0.0.1; 1000 concurrent streams from this client and from ``vllm bench
serve`` side by side. Since the server's timing is fixed, whatever a client measures
above it is the client's (and the shared 2 CPU cores') own cost. Target: this client
sustains at least vLLM's requests/s.

    .venv/bin/python benchmarks/client_overhead.py [--concurrency 1000] [--requests 3000]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import median, print_table, run_vllm_bench, write_prompts

from playbook.core.profiles import load_profile
from playbook.load.datasets import build_requests
from playbook.load.loadgen import LoadConfig, run_load
from playbook.run.manifest import cpu_model
from playbook.serving.endpoint import Endpoint
from playbook.sizing.models import prepare_model


def start_mock(tokens_per_s: float, ttft_ms: float) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "playbook.serving.mockserver", "--port", str(port),
                             "--tokens-per-s", str(tokens_per_s), "--ttft-ms", str(ttft_ms)])  # fmt: skip
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.1)
    raise RuntimeError("mock server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--output-tokens", type=int, default=32)
    parser.add_argument("--tokens-per-s", type=float, default=20.0)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    tokenizer = prepare_model(load_profile("cpu-smollm2").model).local_dir
    samples = build_requests(
        "synthetic", args.requests, 0, tokenizer, input_tokens=32, output_tokens=args.output_tokens
    )
    ideal_e2e = args.ttft_ms + (args.output_tokens - 1) * 1000 / args.tokens_per_s
    ideal_rps = args.concurrency / (ideal_e2e / 1000)
    rows, ours_rps, theirs_rps = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        prompts = write_prompts(samples, Path(tmp) / "prompts.jsonl")
        for r in range(1, args.rounds + 1):
            proc, url = start_mock(args.tokens_per_s, args.ttft_ms)
            try:
                endpoint = Endpoint(url, "mock-model")
                config = LoadConfig(concurrency=args.concurrency, scrape_interval_s=None)
                s = run_load(endpoint, config, samples, Path(tmp) / f"ours-{r}", desc=f"ours round {r}").summary
                ours_rps.append(s.request_throughput_rps)
                rows.append(["playbook", r, s.request_throughput_rps, s.ttft.p50_ms - args.ttft_ms,
                             s.tpot.p50_ms - 1000 / args.tokens_per_s, s.successes])  # fmt: skip
                v = run_vllm_bench(url, "mock-model", tokenizer, prompts, args.requests, args.concurrency,
                                   args.output_tokens)  # fmt: skip
                theirs_rps.append(v["request_throughput"])
                rows.append(["vllm bench serve", r, v["request_throughput"], v["median_ttft_ms"] - args.ttft_ms,
                             v["median_tpot_ms"] - 1000 / args.tokens_per_s, v["completed"]])  # fmt: skip
            finally:
                proc.kill()
                proc.wait()
    print(f"\nClient overhead on {cpu_model()} (2 cores shared by mock server and client); mock: TTFT "
          f"{args.ttft_ms:g} ms, {args.tokens_per_s:g} tok/s, {args.output_tokens} tokens; {args.requests} requests at "
          f"concurrency {args.concurrency}; ideal {ideal_rps:.0f} req/s\n")  # fmt: skip
    print_table(["client", "round", "req/s", "added TTFT p50 ms", "added TPOT p50 ms", "completed"], rows)
    print(
        f"\nmedian req/s: playbook {median(ours_rps):.1f}, vllm bench serve {median(theirs_rps):.1f}, "
        f"ratio {median(ours_rps) / median(theirs_rps):.2f}"
    )


if __name__ == "__main__":
    main()
