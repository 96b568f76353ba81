"""The bandwidth roofline of decoding: at concurrency 1 every output token reads every weight
once, so TPOT cannot beat ``weight bytes / memory bandwidth``. The bandwidth is measured here
(a large device-to-device copy), not taken from a datasheet, and the ratio of the measured TPOT
to this floor says how much of the step is something other than streaming weights."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any


def measure_copy_bandwidth(device: str, size_mib: int = 1024, repeats: int = 5) -> float:
    """Bytes per second moved by ``dst.copy_(src)`` (read + write), best of ``repeats``."""
    import torch

    src = torch.empty(size_mib * 2**20, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    dst.copy_(src)
    sync()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        dst.copy_(src)
        sync()
        best = min(best, time.perf_counter() - started)
    del src, dst
    return 2 * size_mib * 2**20 / best


@dataclass(frozen=True)
class Roofline:
    weight_bytes: int
    bandwidth_gb_s: float
    tpot_floor_ms: float
    tpot_measured_ms: float | None

    @property
    def ratio(self) -> float | None:
        return self.tpot_measured_ms / self.tpot_floor_ms if self.tpot_measured_ms else None

    def describe(self) -> str:
        line = (f"weights {self.weight_bytes / 2**30:.2f} GiB / measured copy bandwidth {self.bandwidth_gb_s:.0f} GB/s "
                f"= TPOT floor {self.tpot_floor_ms:.2f} ms at concurrency 1")  # fmt: skip
        if self.ratio is not None:
            line += f"; measured {self.tpot_measured_ms:.2f} ms = {self.ratio:.1f}x the floor"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def roofline(weight_bytes: int, bandwidth_bytes_s: float, tpot_measured_ms: float | None) -> Roofline:
    floor_ms = weight_bytes / bandwidth_bytes_s * 1000
    return Roofline(weight_bytes, bandwidth_bytes_s / 1e9, floor_ms, tpot_measured_ms)
