"""The run manifest as a typed object: what ran, where, and how each day ended (``manifest.json``).

The runner writes it (``playbook.run.runner``), and the index, the run page, the trends page, the selection
report and the CLI read it. All of them use this one model, so a field is renamed in one place, and a manifest
that cannot be read fails with one line naming the field instead of a ``KeyError`` deep in a page. Every
committed manifest under ``reference/`` still reads (``tests/unit/test_run_manifest.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from playbook.core.errors import PlaybookError, first_problem
from playbook.core.fileio import write_json_atomic

RunStatus = Literal["running", "ok", "partial", "failed", "interrupted"]
DayRunStatus = Literal["ok", "partial", "failed", "interrupted"]


class ManifestError(PlaybookError):
    """A manifest.json that cannot be read as a run manifest."""


class _Open(BaseModel):
    """Fields a reader uses are typed. Other keys are kept as written, so a manifest from an older or newer
    release still reads and is re-saved whole."""

    model_config = ConfigDict(extra="allow")


class DayEntry(_Open):
    """How one day of the run ended (``execute_day``), or where a signal stopped it."""

    day: int | None  # None: interrupted during the pre-flight, before any day began
    title: str | None = None
    folder: str | None = None
    status: DayRunStatus
    error: str | None = None
    started_utc: str | None = None
    finished_utc: str | None = None


class Environment(_Open):
    """Versions and hardware as the engine's interpreter saw them (``playbook.run.manifest``)."""

    git_commit: str | None = None
    git_dirty: bool | None = None
    git_commit_from: str | None = None  # "PLAYBOOK_SOURCE_COMMIT" where the caller named the commit
    python: str | None = None
    cpu_model: str | None = None
    cpu_cores: int | None = None
    memory_gib: float | None = None
    gpus: list[dict[str, str]] = []
    hardware_summary: str | None = None
    engine_python: str | None = None
    engine_version: str | None = None
    package_versions: dict[str, str] = {}


class SelfTest(_Open):
    matmul_tflops: float
    copy_gb_s: float
    seconds: float | None = None


class GpuCheckRecord(_Open):
    """The GPU's identity and self-test before the days ran (``playbook.sizing.gpu_check``), or why it failed."""

    verdict: list[str] = []
    self_test: SelfTest | None = None
    error: str | None = None


class RunnerIdentity(_Open):
    pid: int
    host: str
    boot_id: str | None = None


class SharedServer(_Open):
    """A server the run's pool held (``serving.pool``): the days that used it, the first of which started it."""

    engine: str
    days: list[str]
    startup_s: float | None = None
    argv: list[str] = []


class RunManifest(_Open):
    run_id: str
    date: str
    status: RunStatus
    started_utc: str
    finished_utc: str | None = None
    interrupted: str | None = None  # why a run marked running was found without its runner
    profile_file: str
    overrides: list[str] = []
    # The profile as resolved when the run began, kept as written rather than as today's Profile model: profiles
    # gain and rename fields across releases, and an old run's manifest must still read.
    profile: dict[str, Any]
    engine: str
    # What each day's pre-flight hook found, in the hook's own shape (``playbook.days.preflights``).
    preflight: dict[str, Any] = {}
    environment: Environment = Environment()
    gpu_check: GpuCheckRecord | None = None
    days: list[DayEntry] = []
    rerun: str | None = None
    runner: RunnerIdentity | None = None
    servers: list[SharedServer] = []  # the pool's servers; one used by two or more days saved their starts
    # The run folder relative to the outputs root, set by ``layout.load_runs`` for pages; never saved.
    folder: str | None = Field(None, exclude=True)

    @property
    def profile_name(self) -> str | None:
        name = self.profile.get("name")
        return name if isinstance(name, str) else None

    def save(self, path: Path) -> None:
        write_json_atomic(Path(path), self.model_dump(mode="json"))


def read_manifest(path: Path) -> RunManifest:
    """The manifest at ``path``; a missing or malformed one is one line naming the file and the field."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: cannot be read as JSON ({exc})") from None
    try:
        return RunManifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"{path}: not a run manifest ({first_problem(exc)})") from None
