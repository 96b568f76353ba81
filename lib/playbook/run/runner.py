"""The runner: execute the days' notebooks with papermill into a dated, versioned run folder.

Where each file goes is :mod:`playbook.reports.layout`'s business. The profile is validated
and the memory pre-flight passes *before* any notebook starts. A failed day keeps its
partial notebook and is marked failed; the next days still run.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from playbook.core.errors import PlaybookError, PreflightError
from playbook.core.fileio import utc_now
from playbook.core.profiles import REPO_ROOT, Profile, load_profile, resolve_profile_path
from playbook.days.preflights import PREFLIGHTS
from playbook.reports.index import write_index
from playbook.reports.layout import (
    DEFAULT_OUTPUTS,
    allocate_run_dir,
    ensure_writable,
    runner_identity,
)
from playbook.reports.ledger import write_ledger_page
from playbook.reports.notebook_html import render_report
from playbook.reports.run_manifest import (
    DayEntry,
    DayRunStatus,
    Environment,
    GpuCheckRecord,
    RunManifest,
    RunStatus,
    SharedServer,
)
from playbook.reports.run_page import write_run_page
from playbook.reports.summary import day_box
from playbook.run.manifest import collect_environment
from playbook.serving.capabilities import cpu_parallelism_problem
from playbook.serving.launcher import ensure_port_free, sweep_pid_files
from playbook.serving.pool import POOL_VARIABLE, WATCH_VARIABLE, ServerPool
from playbook.sizing.memory import check_fits, plan_for
from playbook.sizing.models import prepare_model

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


@dataclass(frozen=True)
class DaySpec:
    day: int
    notebook: str
    title: str

    @property
    def folder(self) -> str:
        return f"day{self.day:02d}"


DAYS: dict[int, DaySpec] = {
    1: DaySpec(1, "day1_serve_validate.ipynb", "Serve a model with vLLM and validate the OpenAI API"),
    2: DaySpec(2, "day2_speculative_decoding.ipynb", "Speculative decoding, measured against no speculation"),
    3: DaySpec(3, "day3_structured_output_prefix_cache.ipynb", "Structured output, prefix caching; SGLang on GPUs"),
    4: DaySpec(4, "day4_quantization.ipynb", "AWQ/GPTQ 4-bit quantization and a measured quality gate"),
    5: DaySpec(5, "day5_kubernetes_healthcheck.ipynb", "Kubernetes/KServe manifests, validated, and a CI health check"),
    6: DaySpec(6, "day6_multi_lora.ipynb", "Multi-LoRA serving: adapters made here, routing by behaviour"),
    7: DaySpec(7, "day7_load_test.ipynb", "Load test to 1000 concurrent requests, P50/P95/P99, baseline"),
    8: DaySpec(8, "selection_report.ipynb", "Engine selection from the measured results"),
}


def parse_days(text: str | None) -> list[int]:
    """``"1,7"`` -> [1, 7]; ``None`` or ``"all"`` -> every day that exists. A day named twice runs once (a second
    run would overwrite the first's notebook, metrics and log); a list with no day in it is refused."""
    if text in (None, "", "all"):
        return sorted(DAYS)
    try:
        days = list(dict.fromkeys(int(x) for x in str(text).split(",") if x.strip()))
    except ValueError:
        raise PlaybookError(f"--days must be a comma-separated list of day numbers, got {text!r}") from None
    if not days:
        raise PlaybookError(f"--days {text!r} names no day; give e.g. --days 1,7 or --days all")
    unknown = [d for d in days if d not in DAYS]
    if unknown:
        raise PlaybookError(f"unknown day(s) {unknown}; available: {sorted(DAYS)}")
    return days


def rerun_command(profile_name: str, days: list[int], overrides: list[str] | None) -> str:
    """The command that repeats this run, quoted for a POSIX shell (paths with spaces, values with quotes)."""
    sets = [arg for override in overrides or [] for arg in ("--set", override)]
    return shlex.join(["playbook", "run", "--profile", str(profile_name), "--days", ",".join(map(str, days)), *sets])


def preflight(profile: Profile, days: list[int] | None = None) -> dict[str, Any]:
    """Prepare the model (cached) and refuse early if it cannot fit, if Day 4 could not quantize it, or if
    Day 6's server could not load LoRA adapters at this dtype."""
    spec = profile.engine_spec
    if profile.hardware.accelerator == "cpu" and not profile.attached:
        problem = cpu_parallelism_problem(spec.tensor_parallel_size, spec.pipeline_parallel_size)
        if problem:
            raise PreflightError(f"engines.{profile.engine}: {problem}")
    prepared = prepare_model(profile.model)
    found: dict[str, Any] = {"model": prepared.to_dict()}
    for day in days or []:
        if day in PREFLIGHTS:
            key, hook = PREFLIGHTS[day]
            result = hook(profile, prepared)
            if result is not None:
                found[key] = result
    if profile.attached:
        return {**found, "memory_plan": None}
    return {**found, "memory_plan": check_fits(plan_for(profile, prepared)).to_dict()}


def gpu_check(profile: Profile) -> GpuCheckRecord | None:
    """On a local NVIDIA run: the GPU's identity and a 20-30 s self-test before any number of it counts (a failure
    is recorded, not fatal: the run's numbers are then marked as from an unchecked GPU)."""
    if profile.hardware.accelerator != "nvidia" or profile.attached:
        return None
    from playbook.sizing import gpu_check as check

    try:
        found = check.check_gpu(profile.hardware.expected_matmul_tflops, profile.hardware.expected_copy_gb_s)
    except Exception as exc:  # no nvidia-smi, no torch in the kernel, a device error: said in the manifest
        return GpuCheckRecord(
            error=f"{type(exc).__name__}: {exc}", verdict=[f"GPU NOT CHECKED: {type(exc).__name__}: {exc}"]
        )
    return GpuCheckRecord.model_validate(found)


def execute_day(spec: DaySpec, run_dir: Path, parameters: dict[str, Any], timeout_s: int | None) -> DayEntry:
    """Run one notebook; on any failure keep the partial notebook and report why."""
    import papermill

    day_dir = run_dir / spec.folder
    day_dir.mkdir(parents=True, exist_ok=True)
    output_nb = day_dir / "notebook.ipynb"
    status: DayRunStatus = "ok"
    error: str | None = None
    started = utc_now()
    os.environ["TQDM_DISABLE"] = "1"  # the kernel inherits it: no progress bars in a report (papermill shows its own)
    try:
        papermill.execute_notebook(
            str(NOTEBOOKS_DIR / spec.notebook),
            str(output_nb),
            parameters={**parameters, "output_dir": str(day_dir)},
            cwd=str(NOTEBOOKS_DIR),
            execution_timeout=timeout_s,
            progress_bar=True,
            request_save_on_cell_execute=True,
        )
    except Exception as exc:  # papermill's execution error, a timeout, a kernel death
        status, error = "failed", f"{type(exc).__name__}: {str(exc).strip()[-1500:]}"
    finally:
        sweep_pid_files(day_dir)  # a notebook that died must not leave its server running
    if status == "ok":
        status, error = notebook_verdict(day_dir / "metrics.json")
    if output_nb.exists():
        title = f"Day {spec.day}: {spec.title} · {parameters['profile']} · {started[:10]}"
        render_html(output_nb, day_dir / "report.html", title)
    return DayEntry(day=spec.day, title=spec.title, folder=spec.folder, status=status, error=error,
                    started_utc=started, finished_utc=utc_now())  # fmt: skip


def notebook_verdict(metrics_path: Path) -> tuple[DayRunStatus, str | None]:
    """A notebook that ran to the end may still report a day cut short (``ctx.partial``)."""
    try:
        data = json.loads(metrics_path.read_text())
    except (OSError, ValueError):
        return "ok", None
    if data.get("status") == "partial":
        return "partial", "; ".join(data.get("partial") or [])
    return "ok", None


def render_html(notebook: Path, html_path: Path, title: str = "Playbook report") -> None:
    """The report, with the summary box from the day's metrics.json when it can be read as the day's result."""
    render_report(notebook, html_path, title, day_box(notebook.parent))


def run_playbook(
    profile_name: str,
    days: list[int],
    overrides: list[str] | None = None,
    outputs_root: Path = DEFAULT_OUTPUTS,
    timeout_s: int | None = None,
) -> Path:
    """Validate, pre-flight, then execute each day; returns the run folder."""
    profile = load_profile(profile_name, overrides)  # raises ProfileError before anything starts
    outputs_root = Path(outputs_root).resolve()
    ensure_writable(outputs_root)
    if not profile.attached and profile.server.port != "auto":  # a taken port is found before the run folder exists
        ensure_port_free(profile.server.host, profile.server.port)
    plan = preflight(profile, days)
    run_dir = allocate_run_dir(outputs_root)
    manifest = RunManifest(
        run_id=run_dir.name,
        date=run_dir.parent.name,
        status="running",
        started_utc=utc_now(),
        profile_file=str(resolve_profile_path(profile_name)),
        overrides=list(overrides or []),
        profile=profile.model_dump(mode="json"),
        engine=profile.engine,
        preflight=plan,
        environment=Environment.model_validate(collect_environment(profile)),
        gpu_check=gpu_check(profile),
        rerun=rerun_command(profile_name, days, overrides),
        runner=runner_identity(),  # a later command on this host can tell the run died
    )
    manifest_path = run_dir / "manifest.json"
    manifest.save(manifest_path)
    parameters = {"profile": profile_name, "overrides": list(overrides or [])}
    current = None
    pool = ServerPool(run_dir / "pool")
    try:
        with interrupts_end_the_run(), kernels_share(pool):
            for number in days:
                current = DAYS[number]
                print(f"[{datetime.now():%H:%M:%S}] Day {number}: {current.title}", flush=True)
                manifest.days.append(execute_day(current, run_dir, parameters, timeout_s))
                manifest.save(manifest_path)
    except (RunInterrupted, KeyboardInterrupt) as exc:
        manifest.days.append(interrupted_day(current, getattr(exc, "signal", "SIGINT")))
        sweep_pid_files(run_dir)  # the engine of the day in progress goes with it
        raise
    finally:
        pool.drain()
        manifest.servers = [SharedServer.model_validate(e.model_dump()) for e in pool.history()]
        manifest.status = run_status(manifest.days, len(days))
        manifest.finished_utc = utc_now()
        manifest.save(manifest_path)
        write_ledger_page(run_dir)
        write_run_page(run_dir)
        write_index(outputs_root)
    return run_dir


@contextmanager
def kernels_share(pool: ServerPool) -> Iterator[None]:
    """The notebook kernels this runner starts find the run's server pool, and the pooled servers' reapers watch
    this process (``serving.pool``); restored after, so a runner called in-process leaves no pool behind."""
    saved = {name: os.environ.get(name) for name in (POOL_VARIABLE, WATCH_VARIABLE)}
    os.environ[POOL_VARIABLE], os.environ[WATCH_VARIABLE] = str(pool.folder), str(os.getpid())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_status(days_done: list[DayEntry], planned: int) -> RunStatus:
    statuses = {d.status for d in days_done}
    if "interrupted" in statuses:
        return "interrupted"
    if statuses <= {"ok"} and len(days_done) == planned:
        return "ok"
    return "failed" if "failed" in statuses else "partial"


def interrupted_day(spec: DaySpec | None, signal_name: str) -> DayEntry:
    """The manifest's entry for the day a signal ended (its folder keeps what the notebook had saved)."""
    where = f"Day {spec.day}" if spec else "the pre-flight"
    return DayEntry(
        day=spec.day if spec else None,
        title=spec.title if spec else None,
        folder=spec.folder if spec else None,
        status="interrupted",
        error=f"the run was interrupted by {signal_name} during {where}",
        finished_utc=utc_now(),
    )


class RunInterrupted(BaseException):
    """SIGTERM or SIGHUP arrived (``timeout``, a CI cancellation, a closed terminal). A BaseException, like
    KeyboardInterrupt, so no ``except Exception`` on the way swallows it; the run ends ``interrupted``."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signal = signal.Signals(signum).name
        self.signum = signum


@contextmanager
def interrupts_end_the_run() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`RunInterrupted` in the main thread while the days run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise RunInterrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
