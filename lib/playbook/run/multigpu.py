"""Multi-GPU measurement: the same model served at TP=1, TP=2, DP=2 (and a 70B at TP=2),
each measured with the Day 7 load generator, KV capacity checked against the pre-flight.

One variant = one profile + overrides + the GPUs it may see. ``measure_variant`` starts the
engine through the same launcher the notebooks use, scrapes what the engine reports, runs a
concurrency sweep and writes ``<out>/<variant>.json`` after every level, so a server that
dies (or a call that runs out of time) loses only the level in flight.

Run on a machine with the GPUs: ``python -m playbook.run.multigpu --variants tp1,tp2 --out DIR``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbook.core.errors import PlaybookError
from playbook.core.fileio import utc_now, write_json_atomic
from playbook.core.profiles import REPO_ROOT, Profile, load_profile
from playbook.load import sweep
from playbook.serving import serverinfo
from playbook.serving.launcher import launch
from playbook.sizing.memory import plan_for
from playbook.sizing.models import prepare_model

# NVLink multicast stays off on shared hosts (the lent machines require it; harmless elsewhere).
SAFE_NCCL_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}


@dataclass(frozen=True)
class Variant:
    """A way to serve: which profile, what it overrides, which GPUs it sees."""

    name: str
    profile: str
    overrides: dict[str, Any] = field(default_factory=dict)
    visible_devices: str = "0"
    engine: str = "vllm"

    @property
    def gpus(self) -> int:
        return len(self.visible_devices.split(","))


VARIANTS = {
    v.name: v
    for v in [
        Variant("qwen7b-tp1", "h100x2-qwen2.5-7b-dummy", {"hardware.count": 1}, "0"),
        Variant("qwen7b-tp2", "h100x2-qwen2.5-7b-dummy", {"engines.vllm.tensor_parallel_size": 2}, "0,1"),
        Variant("qwen7b-dp2", "h100x2-qwen2.5-7b-dummy", {"engines.vllm.data_parallel_size": 2}, "0,1"),
        Variant("qwen7b-sglang-tp1", "h100x2-qwen2.5-7b-dummy", {"hardware.count": 1}, "1", engine="sglang"),
        # SGLang across both cards (issue #38): --tp-size 2 splits every layer; --dp-size 2 runs two replicas behind
        # SGLang's own router, each a whole copy of the weights on its card
        Variant(
            "qwen7b-sglang-tp2",
            "h100x2-qwen2.5-7b-dummy",
            {"engines.sglang.tensor_parallel_size": 2},
            "0,1",
            engine="sglang",
        ),
        Variant(
            "qwen7b-sglang-dp2",
            "h100x2-qwen2.5-7b-dummy",
            {"engines.sglang.data_parallel_size": 2},
            "0,1",
            engine="sglang",
        ),
        Variant("llama70b-tp2", "h100x2-llama-70b-dummy", {}, "0,1"),
        # 0.95 ran out of memory allocating the KV cache on 2 x H100 (2026-11-25): the pre-flight now refuses it
        Variant("llama70b-tp2-u095", "h100x2-llama-70b-dummy", {"engines.vllm.gpu_memory_utilization": 0.95}, "0,1"),
    ]
}


def environment_facts() -> dict[str, Any]:
    """GPU model, driver, interconnect and versions, as the machine reports them."""

    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"({cmd[0]} failed: {exc})"

    facts: dict[str, Any] = {
        "gpus": run("nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"),
        "topology": run("nvidia-smi", "topo", "-m"),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
    for package in ("torch", "vllm", "sglang", "transformers"):
        facts[package] = _package_version(package)
    return facts


def _package_version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def variant_profile(variant: Variant, python: str) -> Profile:
    """The variant's profile, run by ``python`` with only its GPUs visible."""
    env = {"CUDA_VISIBLE_DEVICES": variant.visible_devices, **SAFE_NCCL_ENV}
    stack = os.environ.get(f"PLAYBOOK_{variant.engine.upper()}_PYTHONPATH")
    if stack:  # each engine its own packages (vLLM and SGLang pin different transformers)
        env["PYTHONPATH"] = f"{REPO_ROOT / 'lib'}:{stack}"
    overrides = {**variant.overrides, f"engines.{variant.engine}.python": python, "engine": variant.engine}
    overrides[f"engines.{variant.engine}.env"] = env
    return load_profile(variant.profile, overrides)


def measure_variant(variant: Variant, out_dir: Path, python: str, peak: bool = True) -> dict[str, Any]:
    """Serve, scrape, sweep; the JSON on disk is complete after each step."""
    profile = variant_profile(variant, python)
    prepared = prepare_model(profile.model)
    plan = plan_for(profile, prepared)
    result: dict[str, Any] = {
        "variant": variant.name, "engine": variant.engine, "profile": profile.name, "overrides": variant.overrides,
        "gpus": variant.gpus, "dummy_weights": True, "preflight": plan.to_dict(), "levels": [],
        "gpu_memory_utilization": profile.engine_spec.gpu_memory_utilization,  # what the launcher passes
        "started_at": utc_now(), "status": "starting",
    }  # fmt: skip
    path = out_dir / f"{variant.name}.json"
    write_json_atomic(path, result)
    started = time.monotonic()
    try:
        with launch(profile, prepared.model_arg, out_dir / f"{variant.name}.log") as server:
            result.update(startup_s=round(time.monotonic() - started, 1), argv=server.argv, status="serving",
                          kv_capacity_tokens_reported=serverinfo.reported_kv_capacity_tokens(server),
                          engine_version=serverinfo.engine_version(server))  # fmt: skip
            write_json_atomic(path, result)
            _sweep_into(result, path, profile, server, prepared.model_arg, out_dir / variant.name, peak)
            result["status"] = "ok"
    except PlaybookError as exc:
        result.update(status="failed", error=str(exc)[-4000:])
    result["finished_at"] = utc_now()
    write_json_atomic(path, result)
    return result


def _sweep_into(result, path, profile, server, tokenizer_dir, records_dir, peak) -> None:
    settings = profile.days.day7
    levels = sweep.levels_of(settings, peak)
    pool = sweep.PromptPool(
        sweep.requests_for(settings, sweep.pool_size(settings), seed=0, tokenizer_dir=tokenizer_dir)
    )
    for c in levels:
        n = sweep.level_requests(settings, c)
        if c == 1:
            n = min(n, 12)  # one at a time: a dozen answers already give a steady TPOT
        level = sweep.run_level(server.endpoint, settings, c, n, pool, records_dir / f"c{c:04d}", 0)
        result["levels"].append(level.row())
        write_json_atomic(path, result)
        if not server.is_alive():
            raise PlaybookError(f"the server died during the c={c} level; results up to it are kept")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", required=True, help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs the engines")
    parser.add_argument("--no-peak", action="store_true", help="skip the 1000-concurrent level")
    parser.add_argument("--parallel", action="store_true", help="run variants at once (disjoint GPUs only)")
    args = parser.parse_args(argv)
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    facts_path = args.out / "environment.json"
    if not facts_path.exists():
        write_json_atomic(facts_path, environment_facts())
    if args.parallel:
        return _run_parallel(names, args)
    for name in names:
        print(json.dumps(_brief(measure_variant(VARIANTS[name], args.out, args.python, not args.no_peak))), flush=True)
    return 0


def _run_parallel(names: list[str], args: argparse.Namespace) -> int:
    """Variants on disjoint GPUs start at the same time (their start-up overlaps)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(names)) as pool:
        futures = [pool.submit(measure_variant, VARIANTS[n], args.out, args.python, not args.no_peak) for n in names]
        for future in futures:
            print(json.dumps(_brief(future.result())), flush=True)
    return 0


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("variant", "status", "startup_s", "kv_capacity_tokens_reported", "error")
    levels = [(lv["concurrency"], lv["output_tok_s"]) for lv in result["levels"]]
    return {k: result.get(k) for k in keys} | {"levels": levels}


if __name__ == "__main__":
    sys.exit(main())
