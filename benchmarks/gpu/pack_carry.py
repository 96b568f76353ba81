"""Pack staged stacks into carry folders that each fit one device call beside the working tree.

A call carries at most 64 MiB, the working tree (~12 MB in December 2026) included, and a machine that goes cold
loses everything staged on it, so the stacks have to arrive in a few back-to-back calls. This re-cuts each stack's
xz stream (``../shared/gpu/stage`` chunks, or one ``*.tar.xz``) into pieces and fills ``.gpu-stage/carry/kNN/``
folders up to ``--budget-mb``; pieces keep their stack's order, so the device's ``cat part.* | xz -d`` is unchanged.

    python benchmarks/gpu/pack_carry.py vllm sglang nb smol        # prints the calls
    device call per folder: carry [".gpu-stage/carry/k01"], command:
        mkdir -p /root/parts && cp -rn .gpu-stage/carry/k*/. /root/parts/
    and the first call of a lease starts with `rm -rf /root/parts /tmp/{vllm,sglang,nb,smol}`: a warm machine keeps
    what earlier calls staged, and pieces of an earlier cut under the same names corrupt the stream (2026-12-04).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

STAGE = Path(".gpu-stage")


def stack_bytes(stack: str) -> list[Path]:
    """The stack's xz stream, in order: stage's ``c*/part.*`` chunks, or the single ``*.tar.xz`` made by hand."""
    folder = STAGE / stack
    parts = sorted(folder.glob("c*/part.*")) or sorted(folder.glob("*.tar.xz"))
    if not parts:
        raise SystemExit(f"{folder}: no staged chunks (run ../shared/gpu/stage first)")
    return parts


def pieces(stack: str, piece_mb: int):
    """(name, bytes) pieces of the concatenated stream, ``piece_mb`` at most each."""
    size = piece_mb * 1_000_000
    buffer, index = b"", 0
    for part in stack_bytes(stack):
        buffer += part.read_bytes()
        while len(buffer) >= size:
            index += 1
            yield f"part.{index:03d}", buffer[:size]
            buffer = buffer[size:]
    if buffer:
        yield f"part.{index + 1:03d}", buffer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stacks", nargs="+")
    parser.add_argument("--budget-mb", type=int, default=52, help="carried bytes a call (64 MiB less the tree)")
    parser.add_argument("--piece-mb", type=int, default=26)
    args = parser.parse_args()
    out = STAGE / "carry"
    shutil.rmtree(out, ignore_errors=True)
    folder, used, count = None, 0, 0
    for stack in args.stacks:
        for name, data in pieces(stack, args.piece_mb):
            if folder is None or used + len(data) > args.budget_mb * 1_000_000:
                count += 1
                folder, used = out / f"k{count:02d}", 0
            (folder / stack).mkdir(parents=True, exist_ok=True)
            (folder / stack / name).write_bytes(data)
            used += len(data)
    for k in sorted(out.iterdir()):
        size = sum(f.stat().st_size for f in k.rglob("*") if f.is_file()) / 1e6
        print(f"{k}: {size:.0f} MB ({', '.join(sorted(p.name for p in k.iterdir()))})")


if __name__ == "__main__":
    main()
