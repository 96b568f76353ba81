"""Where a run's files live: the one module that knows the ``outputs/`` layout.

    outputs/<YYYY-MM-DD>/run-<NNNN>/
        manifest.json            profile, versions, hardware, status of each day
        dayNN/notebook.ipynb     executed notebook (kept, partial, on failure)
        dayNN/report.html        nbconvert rendering
        dayNN/metrics.json       what the day measured, saved step by step
        dayNN/server.log         the engine's log, when the day launched one
    outputs/interactive/<date>/dayNN/        notebooks opened by hand (one folder a date: a week by hand)
    outputs/index.html, outputs/trends.html  every run

Run ids increase across all dates and are claimed with an exclusive ``mkdir``, so two
runs never share a folder and no run overwrites another.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from playbook.core.errors import OutputNotWritableError, PlaybookError
from playbook.core.fileio import utc_now
from playbook.core.profiles import REPO_ROOT
from playbook.reports.run_manifest import ManifestError, RunManifest, RunnerIdentity, read_manifest

DEFAULT_OUTPUTS = REPO_ROOT / "outputs"
RUN_ID = re.compile(r"^run-(\d{4,})$")


def baseline_path(outputs_root: Path, profile_name: str) -> Path:
    """A profile's saved Day 7 baseline: beside the runs, compared against by later runs."""
    return Path(outputs_root) / "baselines" / f"{profile_name}-day7.json"


def loadtest_dir(outputs_root: Path = DEFAULT_OUTPUTS) -> Path:
    """A fresh folder for one ``playbook loadtest`` (when --out is not given)."""
    return Path(outputs_root) / "loadtests" / datetime.now().strftime("%Y%m%d-%H%M%S")


def day_folder(day: int) -> str:
    return f"day{day:02d}"


def interactive_day_dir(day: int, outputs_root: Path = DEFAULT_OUTPUTS, today: date | None = None) -> Path:
    """Where a notebook opened by hand writes: ``interactive/<date>/dayNN``, one folder for the days run by hand on
    one date, so the selection notebook run by hand reads them as a week. Never over a runner's run; a day run
    again by hand moves its earlier folder aside (``dayNN-earlier-<time>``) rather than writing into it."""
    folder = Path(outputs_root) / "interactive" / (today or date.today()).isoformat() / day_folder(day)
    if (folder / "metrics.json").exists():
        folder.rename(folder.with_name(f"{folder.name}-earlier-{datetime.now():%H%M%S}"))
    return folder


def outputs_root_of(day_dir: str | Path) -> Path:
    """The outputs root of a day folder: <root>/<date>/<run-id>/<dayNN> (also <root>/interactive/<ts>/<dayNN>)."""
    return Path(day_dir).resolve().parents[2]


def ensure_writable(outputs_root: Path) -> None:
    try:
        outputs_root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=outputs_root, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise OutputNotWritableError(f"outputs folder {outputs_root} is not writable: {exc.strerror}") from None


def next_run_number(outputs_root: Path) -> int:
    numbers = [int(m.group(1)) for p in outputs_root.glob("*/run-*") if (m := RUN_ID.match(p.name))]
    return max(numbers, default=0) + 1


def allocate_run_dir(outputs_root: Path, today: date | None = None) -> Path:
    """Claim ``outputs/<date>/run-NNNN`` atomically; never reuses an existing id."""
    day_dir = outputs_root / (today or date.today()).isoformat()
    day_dir.mkdir(parents=True, exist_ok=True)
    number = next_run_number(outputs_root)
    while True:
        candidate = day_dir / f"run-{number:04d}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            number += 1


def find_run(outputs_root: Path, run_id: str) -> Path:
    matches = [p for p in Path(outputs_root).glob(f"*/{run_id}") if (p / "manifest.json").exists()]
    if not matches:
        raise PlaybookError(f"no run {run_id!r} with a manifest under {outputs_root}")
    return matches[0]


def runner_identity() -> RunnerIdentity:
    """What the manifest records of the process running it: pid, host and boot, so a later command on the same
    host can tell that the runner is gone (SIGKILL, the OOM killer, a reboot) and stop showing the run as running."""
    return RunnerIdentity(pid=os.getpid(), host=socket.gethostname(), boot_id=_boot_id())


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def runner_gone(runner: RunnerIdentity | None) -> str | None:
    """Why the runner a manifest names no longer runs; None when it may still (another host, or no record)."""
    if runner is None or runner.host != socket.gethostname():
        return None
    boot = _boot_id()
    if runner.boot_id and boot and runner.boot_id != boot:
        return f"the host rebooted since pid {runner.pid} started the run"
    try:
        os.kill(runner.pid, 0)
    except ProcessLookupError:
        return f"its runner, pid {runner.pid} on {runner.host}, is gone (killed, or out of memory)"
    except PermissionError:
        return None
    return None


def _manifests(outputs_root: Path) -> Iterator[tuple[Path, RunManifest]]:
    """Every run's manifest under outputs/<date>/<run-id>/ that reads (a half-written one is passed over)."""
    for path in Path(outputs_root).glob("*/run-*/manifest.json"):
        try:
            yield path, read_manifest(path)
        except ManifestError:
            continue


def mark_gone_runs(outputs_root: Path) -> list[Path]:
    """Runs still marked ``running`` whose runner is gone on this host: marked ``interrupted`` with the reason, so
    the index stops showing them in progress. What their days saved stays as it is. Returns the manifests changed."""
    changed = []
    for path, manifest in _manifests(outputs_root):
        why = runner_gone(manifest.runner) if manifest.status == "running" else None
        if why:
            manifest.status, manifest.interrupted = "interrupted", f"runner gone: {why}"
            manifest.finished_utc = utc_now()
            manifest.save(path)
            changed.append(path)
    return changed


def load_runs(outputs_root: Path) -> list[RunManifest]:
    """Every run's manifest under outputs/<date>/<run-id>/, newest first, each with its ``folder`` set."""
    runs = []
    for path, manifest in _manifests(outputs_root):
        manifest.folder = str(path.parent.relative_to(outputs_root))
        runs.append(manifest)
    return sorted(runs, key=lambda r: r.run_id, reverse=True)
