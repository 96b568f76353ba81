"""On the lent GPU machine: does an engine's packed stack (plus the image's own packages) hold exactly the versions
its tool-made lock pins? The machine reaches no registry, so the lock cannot be installed there; this compares what
runs with what a GPU VM would install.

    python3 benchmarks/gpu/lock_vs_stack.py vllm:/tmp/vllm sglang:/tmp/sglang
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
from pathlib import Path

LOCKS = Path(__file__).resolve().parents[2] / "requirements"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def versions(stack: str) -> dict[str, tuple[str, str]]:
    """name -> (version, where): the stack's own distributions first, then the image's (sys.path)."""
    found = {_norm(d.metadata["Name"]): (d.version, "image") for d in metadata.distributions()}
    found.update({_norm(d.metadata["Name"]): (d.version, "stack") for d in metadata.distributions(path=[stack])})
    return found


def compare(engine: str, stack: str) -> None:
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", (LOCKS / f"gpu-{engine}.lock.txt").read_text(), re.M))
    have = versions(stack)
    same = [n for n, v in pins.items() if have.get(_norm(n), ("",))[0].split("+")[0] == v.split("+")[0]]
    other = {n: (v, have[_norm(n)]) for n, v in pins.items() if _norm(n) in have and n not in same}
    missing = sorted(n for n in pins if _norm(n) not in have)
    print(f"{engine}: {len(pins)} pins; {len(same)} same version, {len(other)} other, {len(missing)} absent")
    for name, (pinned, (version, where)) in sorted(other.items()):
        print(f"  other   {name}: lock {pinned}, {where} {version}")
    print(f"  absent  {', '.join(missing)}")


if __name__ == "__main__":
    for item in sys.argv[1:]:
        engine, _, stack = item.partition(":")
        compare(engine, stack)
