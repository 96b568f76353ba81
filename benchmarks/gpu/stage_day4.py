"""Day 4's W4A16 checkpoints for a GPU lease: quantized here, found there under the same content key.

The lent GPU has no llm-compressor (its own environment, too large to carry), so Day 4 there serves checkpoints
made on this machine. Day 4 looks a checkpoint up by a key over the job (method, bits, group size, AWQ grid,
calibration texts, seed, dtype), the source weights' hash and the quantizer (its lock and job script)
(``playbook.days.quantize.checkpoint_dir``). A checkpoint made under other settings is not found, and the day
then needs the quantizer it does not have. So this script asks the GPU profile itself, with the lease's
overrides, which checkpoints its Day 4 will look for, makes any that are missing here, and packs exactly those
folders for the ``quant`` stack (``device_days.sh`` copies it into the device's cache).

Run it with the code of the commit the lease runs, since the key is that commit's: main's from the checkout,
another commit's from a worktree of it on the path::

    .venv/bin/python benchmarks/gpu/stage_day4.py h100-smollm2 --set engine=sglang --out .gpu-stage/quant
    git worktree add /tmp/w499 499cf7d && PYTHONPATH=/tmp/w499/lib .venv/bin/python benchmarks/gpu/stage_day4.py \
        h100-smollm2 --quant-python .venvs/quant/bin/python --out .gpu-stage/quant

It prints each checkpoint's folder and key, whether it was made now, and the packed size; the lease's Day 4 call
must pass the same ``--set`` values.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from playbook.core.profiles import load_profile
from playbook.days import quantize
from playbook.sizing.models import prepare_model


def checkpoints(profile, quant_python: str | None, log_dir: Path) -> list[tuple[str, Path, bool, float]]:
    """(method, folder, made now, seconds) for each of the profile's Day 4 methods: Day 4's own lookup
    (``quantize.quantize``), which quantizes only what its key does not find."""
    settings = profile.days.day4
    if quant_python:  # where the quantizer runs is not part of the key
        settings = settings.model_copy(update={"quant_python": str(Path(quant_python).resolve())})
    prepared = prepare_model(profile.model)
    log_dir.mkdir(parents=True, exist_ok=True)  # the quantizer's log opens here only when it runs
    found = []
    for method in settings.methods:
        made = quantize.quantize(settings, method, prepared.local_dir, prepared.sha256, log_dir / f"{method}.log",
                                 seed=profile.seed)  # fmt: skip
        found.append((method, Path(made.path), not made.cached, made.seconds))
    return found


def pack(folders: list[Path], out: Path) -> Path:
    """The folders, relative to the cache root (``quantized/<name>-<key>``), as one xz stream."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / "checkpoints.tar.xz"
    root = folders[0].parent.parent
    names = [str(f.relative_to(root)) for f in folders]
    with target.open("wb") as sink:
        tar = subprocess.Popen(["tar", "-cf", "-", "-C", str(root), *names], stdout=subprocess.PIPE)
        subprocess.run(["xz", "-T2", "-1"], stdin=tar.stdout, stdout=sink, check=True)
        if tar.wait() != 0:
            raise SystemExit("tar failed")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--quant-python", default=None, help="llm-compressor's interpreter here (not in the key)")
    parser.add_argument("--out", type=Path, default=Path(".gpu-stage/quant"))
    args = parser.parse_args()
    profile = load_profile(args.profile, args.overrides)
    found = checkpoints(profile, args.quant_python, args.out / "logs")
    for method, folder, made, seconds in found:
        print(f"{method}: {folder.name} ({'quantized now' if made else 'cached'}, {seconds:.0f} s)")
    target = pack([folder for _, folder, _, _ in found], args.out)
    print(f"packed {target} ({target.stat().st_size / 1e6:.1f} MB): stage it as the 'quant' stack")


if __name__ == "__main__":
    main()
