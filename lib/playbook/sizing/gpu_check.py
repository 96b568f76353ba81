"""Is this GPU fit to be measured? Its identity, and a 20-30 s self-test, before any number of it counts.

Leases with identical argv, versions and code have run ~35 % apart at high concurrency: a slow machine (a
throttled clock, a lower power limit, a neighbour on the host) is invisible in a report unless the machine is
measured too. At the start of a GPU run the runner records what ``nvidia-smi`` says (UUID, name, driver, clocks,
power limit, temperature, persistence and ECC mode), the host CPU and its load, and two measurements: dense bf16
matrix products (TFLOP/s) and a device-to-device copy (GB/s, bytes read plus written). The report compares them
with the GPU's published peak and with what this kind of GPU usually reaches, and flags a machine below that.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Any

from playbook.sizing.host import cpu_model

QUERY = ("uuid", "name", "driver_version", "clocks.sm", "clocks.mem", "clocks.max.sm", "power.limit",
         "temperature.gpu", "persistence_mode", "ecc.mode.current")  # fmt: skip
SLOW_BELOW = 0.85  # of the usual value: under it, the machine's numbers are suspect


@dataclass(frozen=True)
class GpuClass:
    """Published peaks (the vendor's datasheet, dense bf16 and memory bandwidth) and what a healthy one of them
    usually reaches in this self-test."""

    bf16_tflops_peak: float
    memory_gb_s_peak: float
    usual_matmul_tflops: float
    usual_copy_gb_s: float
    usual_source: str


GPU_CLASSES: dict[str, GpuClass] = {  # matched against nvidia-smi's name, first match wins
    "H200": GpuClass(989.0, 4800.0, 790.0, 4300.0, "measured on H200s lent here (2026-10-28, 2026-11-04): 769-798 "
                     "TFLOP/s, 4.3 TB/s"),
    "H100 80GB HBM3": GpuClass(989.0, 3350.0, 790.0, 3000.0, "the H200's measured shares of peak (0.8, 0.9) applied"),
    "H100 PCIe": GpuClass(756.0, 2000.0, 600.0, 1800.0, "the H200's measured shares of peak (0.8, 0.9) applied"),
    "A100": GpuClass(312.0, 2039.0, 250.0, 1800.0, "the H200's measured shares of peak (0.8, 0.9) applied"),
}  # fmt: skip


@dataclass(frozen=True)
class GpuIdentity:
    """One GPU as ``nvidia-smi`` describes it (clocks in MHz, power in W, temperature in °C)."""

    uuid: str
    name: str
    driver: str
    sm_clock_mhz: float | None
    memory_clock_mhz: float | None
    max_sm_clock_mhz: float | None
    power_limit_w: float | None
    temperature_c: float | None
    persistence: str
    ecc: str


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def parse_nvidia_smi(text: str) -> list[GpuIdentity]:
    """``nvidia-smi --query-gpu=<QUERY> --format=csv,noheader,nounits``: one GPU a line."""
    gpus = []
    for row in csv.reader(io.StringIO(text.strip())):
        if len(row) != len(QUERY):
            continue
        v = [c.strip() for c in row]
        gpus.append(GpuIdentity(v[0], v[1], v[2], _number(v[3]), _number(v[4]), _number(v[5]), _number(v[6]),
                                _number(v[7]), v[8], v[9]))  # fmt: skip
    return gpus


def read_identity() -> tuple[list[GpuIdentity], str]:
    """The GPUs here, and the raw ``nvidia-smi`` answer (kept: a later reader may want a field not parsed)."""
    argv = ["nvidia-smi", f"--query-gpu={','.join(QUERY)}", "--format=csv,noheader,nounits"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return parse_nvidia_smi(done.stdout), done.stdout


def host_state() -> dict[str, Any]:
    return {"cpu_model": cpu_model(), "cpu_cores": os.cpu_count(), "load_average_1m": os.getloadavg()[0]}


def matmul_tflops(device: str = "cuda", size: int = 8192, seconds: float = 10.0, batch: int = 20) -> float:
    """Dense bf16 ``size``³ products on random data, back to back in batches of ``batch`` for about ``seconds``
    after a warm-up that brings the clocks up: the median batch's rate. (Timing one product at a time, with a
    synchronisation after each, idles the GPU between products and read 15 % low on an H200.)"""
    import torch

    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(batch):
        a @ b
    torch.cuda.synchronize()
    rates, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline and len(rates) < 200:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(batch):
            a @ b
        end.record()
        end.synchronize()
        rates.append(2 * size**3 * batch / (start.elapsed_time(end) / 1000) / 1e12)
    rates.sort()
    return rates[len(rates) // 2]


@dataclass(frozen=True)
class SelfTest:
    matmul_tflops: float
    copy_gb_s: float
    seconds: float


def self_test(device: str = "cuda") -> SelfTest:
    """About 20 s: matrix products for ~10 s, then a 4 GiB copy, best of 10."""
    from playbook.sizing.roofline import measure_copy_bandwidth

    started = time.perf_counter()
    tflops = matmul_tflops(device)
    copy = measure_copy_bandwidth(device, size_mib=4096, repeats=10) / 1e9
    return SelfTest(round(tflops, 1), round(copy, 1), round(time.perf_counter() - started, 1))


def gpu_class(name: str) -> GpuClass | None:
    return next((c for key, c in GPU_CLASSES.items() if key in name), None)


def verdict(name: str, test: SelfTest, expected_tflops: float | None = None,
            expected_copy_gb_s: float | None = None) -> list[str]:  # fmt: skip
    """Sentences for the report: each measurement against the published peak and the usual value (the profile's
    ``hardware.expected_*`` where set); a flag for each one below 85 % of usual. Empty list: nothing known to
    compare with is said as such by the caller."""
    known = gpu_class(name)
    usual = {"matmul": expected_tflops or (known.usual_matmul_tflops if known else None),
             "copy": expected_copy_gb_s or (known.usual_copy_gb_s if known else None)}  # fmt: skip
    peak = {"matmul": known.bf16_tflops_peak if known else None, "copy": known.memory_gb_s_peak if known else None}
    found = []
    for key, value, unit, what in (("matmul", test.matmul_tflops, "TFLOP/s", "bf16 matrix rate"),
                                   ("copy", test.copy_gb_s, "GB/s", "copy bandwidth")):  # fmt: skip
        if usual[key] is None:
            found.append(f"{what} {value:,.0f} {unit}: no usual value known for {name!r}")
            continue
        share = value / usual[key]
        of_peak = f", {value / peak[key]:.0%} of the published peak" if peak[key] else ""
        line = f"{what} {value:,.0f} {unit}: {share:.0%} of the usual {usual[key]:,.0f}{of_peak}"
        if share < SLOW_BELOW:
            line = (
                f"SLOW MACHINE: this {name} reached {share:.0%} of its usual {what}: its numbers are suspect ({line})"
            )
        found.append(line)
    return found


def check_gpu(expected_tflops: float | None = None, expected_copy_gb_s: float | None = None) -> dict[str, Any]:
    """Everything the manifest keeps: identity, host, self-test, and the verdict sentences."""
    gpus, raw = read_identity()
    test = self_test()
    name = gpus[0].name if gpus else "unknown GPU"
    return {"gpus": [asdict(g) for g in gpus], "nvidia_smi": raw, "host": host_state(), "self_test": asdict(test),
            "verdict": verdict(name, test, expected_tflops, expected_copy_gb_s)}  # fmt: skip
