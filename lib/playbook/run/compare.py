"""Two engines on one GPU, measured in alternating rounds: a difference the host's drift cannot fake.

One engine measured after the other lets the machine change between them: the same H200 has given one engine's
c=256 level 14 % apart on two rounds minutes apart. So here both servers stay up side by side (each with its
share of the GPU's memory), and every level runs round by round, the engines taking turns and swapping who goes
first each round (A-B, B-A, A-B). Each engine gets the same distinct prompts in the same order (paired), and
never one it was already sent (its own :class:`PromptPool`), so no level is a cache hit of an earlier one.

The servers start one after the other, SGLang first where it is one of them: SGLang sizes its pool from the
memory free when it starts (``--mem-fraction-static`` counts what others hold against it), while vLLM's share is
of the whole card. ``compare.json`` is rewritten after every level, so a call that runs out of time keeps every
level it finished; ``rounds.compare`` calls a winner only outside the spread of ≥ 3 rounds.

On the GPU machine: ``python -m playbook.run.compare --profile h200-qwen2.5-7b-dummy --engines sglang,vllm --out
DIR``; ``python -m playbook.reports.compare_page DIR --out reference/...`` draws it.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from playbook.core.errors import PlaybookError
from playbook.core.fileio import utc_now, write_json_atomic
from playbook.core.profiles import Day7Settings, Profile, load_profile
from playbook.load import sweep
from playbook.load.cache import judge, template_share
from playbook.load.datasets import SampleRequest
from playbook.load.loadgen import EndpointUnreachable
from playbook.load.rounds import MIN_ROUNDS, summarize
from playbook.run.manifest import git_state
from playbook.serving import serverinfo
from playbook.serving.endpoint import Endpoint
from playbook.serving.launcher import Server, launch
from playbook.sizing.models import prepare_model

# Who starts first: an engine that sizes its memory from what is free must start before one that takes a share.
START_ORDER = ("sglang", "trtllm", "vllm")


@dataclass(frozen=True)
class Contender:
    """One engine's server as the rounds see it."""

    name: str
    endpoint: Endpoint
    is_alive: Callable[[], bool] = lambda: True


def round_order(contenders: list[Contender], round_number: int) -> list[Contender]:
    """Round 1 in the given order, round 2 rotated by one, and so on: each engine goes first as often as the
    others (within one), so a level's warm-up or drift does not always favour the same one."""
    shift = (round_number - 1) % len(contenders)
    return contenders[shift:] + contenders[:shift]


def pool_size(settings: Day7Settings, levels: list[int], rounds: int) -> int:
    """Distinct requests one engine is sent: every round of every level its own."""
    return rounds * sum(sweep.level_requests(settings, c) for c in levels)


def alternate(
    contenders: list[Contender],
    settings: Day7Settings,
    levels: list[int],
    rounds: int,
    samples: list[SampleRequest],
    out_dir: Path,
    on_row: Callable[[dict[str, Any]], None] = lambda row: None,
    seed: int = 0,
    expected_share: float | None = None,
) -> list[dict[str, Any]]:
    """Every level, ``rounds`` times, the contenders taking turns; one row per (engine, level, round), each
    passed to ``on_row`` as soon as it is measured. A level's slots ramp up as Day 7's do (over that engine's
    previous level's mean request time). An engine whose level did not end ``ok`` (or whose server died) runs
    no further level; the others go on, and the rows say so. ``expected_share``: the prompt share every request
    shares by construction (the chat template's opening), which the cache may serve without contaminating."""
    pools = {c.name: sweep.PromptPool(samples) for c in contenders}
    earlier: dict[str, list[sweep.LevelResult]] = {c.name: [] for c in contenders}
    stopped: set[str] = set()
    rows: list[dict[str, Any]] = []
    for concurrency in levels:
        n = sweep.level_requests(settings, concurrency)
        for r in range(1, rounds + 1):
            for position, contender in enumerate(round_order(contenders, r), start=1):
                if contender.name in stopped:
                    continue
                folder = out_dir / contender.name / f"c{concurrency:04d}-r{r}"
                ramp = sweep.ramp_for(settings, concurrency, earlier[contender.name])
                level = _measure(contender.endpoint, settings, concurrency, n, pools[contender.name], folder,
                                 seed + r - 1, ramp, r, expected_share)  # fmt: skip
                earlier[contender.name].append(level)
                row = level.row() | {"engine": contender.name, "position_in_round": position}
                rows.append(row)
                on_row(row)
                if row["status"] != "ok" or not contender.is_alive():
                    stopped.add(contender.name)
    return rows


def _measure(endpoint: Endpoint, settings: Day7Settings, c: int, n: int, pool: sweep.PromptPool, folder: Path,
             seed: int, ramp: float | None, round_number: int, share: float | None) -> sweep.LevelResult:  # fmt: skip
    try:
        return sweep.run_level(endpoint, settings, c, n, pool, folder, seed, ramp, share, round_number)
    except EndpointUnreachable as exc:
        return sweep.unreachable_level(c, n, str(exc))


def rejudge(rows: list[dict[str, Any]], expected_share: float | None) -> list[dict[str, Any]]:
    """The rows with ``cache_contaminated`` judged again against the workload's template share (the measured hit
    rate unchanged): for a run that judged without it, where every request's chat-template opening counted."""
    return [row | {"cache_contaminated": judge(row.get("prefix_cache_hit_rate"), expected_share, False).contaminated}
            for row in rows]  # fmt: skip


def merge_parts(parts: list[tuple[dict[str, Any], set[int]]], expected_share: float | None) -> dict[str, Any]:
    """One comparison from several runs of the same profile and engines, each contributing the levels it ran in
    full (a call that ran out of time, then a second run of the levels it missed). Every level's rounds come
    from one run, so each level stays a side-by-side comparison; each part's servers, self-test and times are
    kept under ``parts``."""
    first = parts[0][0]
    rows = [row for record, levels in parts for row in record["rows"] if row["concurrency"] in levels]
    rows = rejudge(rows, expected_share)
    kept = ("servers", "gpu_check", "started_at", "finished_at", "status", "git_commit", "overrides")
    merged = {key: first[key] for key in ("profile", "engines", "rounds", "memory_share", "servers", "started_at")}
    merged |= {"git_commit": first.get("git_commit"), "gpu_check": first.get("gpu_check"), "rows": rows,
               "status": "ok" if all(r["status"] == "ok" for r in rows) else "partial",
               "levels": sorted({r["concurrency"] for r in rows}), "expected_share": expected_share,
               "finished_at": parts[-1][0].get("finished_at")}  # fmt: skip
    merged["summary"] = summarize(rows, first["engines"])
    merged["parts"] = [{"levels": sorted(levels), **{k: record.get(k) for k in kept}} for record, levels in parts]
    return merged


# ---- the GPU side: profile, servers, the JSON on disk -------------------------------------------------------


def contender_profile(name: str, engines: list[str], share: float, overrides: dict[str, Any]) -> Profile:
    """The profile with each engine's memory share set to ``share`` (both must fit on one card)."""
    shares = {f"engines.{e}.gpu_memory_utilization": share for e in engines}
    return load_profile(name, {**overrides, **shares})


def check_shares(engines: list[str], share: float) -> None:
    """Before anything starts: the shares must leave room for each engine's CUDA context and graphs."""
    if share * len(engines) > 0.9:
        total = share * len(engines)
        raise PlaybookError(f"--memory-share {share} x {len(engines)} engines = {total:.2f} of the card; "
                            "keep the sum <= 0.90 (each engine needs memory outside its share)")  # fmt: skip


def start_servers(profile: Profile, engines: list[str], model: str, out_dir: Path,
                  stack: contextlib.ExitStack, record: dict[str, Any]) -> list[Server]:  # fmt: skip
    """One after the other, in ``START_ORDER``; each start's seconds, argv, version and reported KV capacity go
    into ``record`` as soon as it is up."""
    servers = []
    for engine in sorted(engines, key=lambda e: START_ORDER.index(e) if e in START_ORDER else len(START_ORDER)):
        started = time.monotonic()
        server = stack.enter_context(launch(profile, model, out_dir / f"server-{engine}.log", engine=engine))
        record["servers"][engine] = {
            "startup_s": round(time.monotonic() - started, 1), "argv": server.argv,
            "engine_version": serverinfo.engine_version(server),
            "kv_capacity_tokens_reported": serverinfo.reported_kv_capacity_tokens(server),
            "gpu_memory_utilization": profile.engines[engine].gpu_memory_utilization,
        }  # fmt: skip
        servers.append(server)
    return servers


def run_comparison(args: argparse.Namespace) -> dict[str, Any]:
    """Self-test, start, alternate, summarize; ``compare.json`` complete after every step."""
    engines = args.engines.split(",")
    check_shares(engines, args.memory_share)
    profile = contender_profile(args.profile, engines, args.memory_share, parse_overrides(args.set))
    settings, levels = profile.days.day7, sweep.levels_of(profile.days.day7, not args.no_peak)
    path = args.out / "compare.json"
    record: dict[str, Any] = {"profile": profile.name, "engines": engines, "rounds": args.rounds, "levels": levels,
                              "memory_share": args.memory_share, "overrides": args.set, "started_at": utc_now(),
                              "status": "starting", "servers": {}, "rows": [], **git_state()}  # fmt: skip
    record["gpu_check"] = gpu_check() if args.gpu_check else None
    write_json_atomic(path, record)
    prepared = prepare_model(profile.model)
    samples = sweep.requests_for(settings, pool_size(settings, levels, args.rounds), 0, prepared.model_arg)
    record["expected_share"] = template_share(samples, prepared.model_arg)
    try:
        with contextlib.ExitStack() as stack:
            servers = start_servers(profile, engines, prepared.model_arg, args.out, stack, record)
            record["status"] = "measuring"
            write_json_atomic(path, record)
            contenders = [Contender(s.engine, s.endpoint, s.is_alive) for s in servers if s.engine in engines]
            contenders.sort(key=lambda c: engines.index(c.name))

            def keep(row: dict[str, Any]) -> None:
                record["rows"].append(row)
                write_json_atomic(path, record)

            rows = alternate(contenders, settings, levels, args.rounds, samples, args.out / "records", keep,
                             expected_share=record["expected_share"])  # fmt: skip
            record["status"] = "ok" if all(r["status"] == "ok" for r in rows) else "partial"
    except PlaybookError as exc:
        record.update(status="failed", error=str(exc)[-4000:])
    record["summary"] = summarize(record["rows"], engines)
    record["finished_at"] = utc_now()
    write_json_atomic(path, record)
    return record


def gpu_check() -> dict[str, Any]:
    from playbook.sizing.gpu_check import check_gpu

    return check_gpu()


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``--set key=value`` (the value read as YAML, as ``playbook run`` reads it)."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PlaybookError(f"--set {pair!r}: write KEY=VALUE, e.g. --set days.day7.rounds=3")
        overrides[key] = yaml.safe_load(value)
    return overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True)
    parser.add_argument("--engines", default="sglang,vllm", help="comma-separated; the first is compared to the rest")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--memory-share", type=float, default=0.42, help="each engine's share of the GPU's memory")
    parser.add_argument("--no-peak", action="store_true", help="skip the peak (1000-concurrent) level")
    parser.add_argument("--no-gpu-check", dest="gpu_check", action="store_false", help="skip the GPU self-test")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1 (3 or more for a verdict)")
    args.out.mkdir(parents=True, exist_ok=True)
    record = run_comparison(args)
    print(f"{record['status']}: {len(record['rows'])} rows; {record.get('error', '')}".rstrip("; "))
    for comparison in record["summary"]["comparisons"]:
        print(f"c={comparison['concurrency']}: {comparison['sentence']}")
    return 0 if record["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
