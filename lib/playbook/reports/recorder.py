"""One day's ``metrics.json``, saved after every step.

:class:`DayRecorder` rewrites ``metrics.json`` after every step, so a day that dies
half-way still leaves what it measured, with ``status: running`` (the runner then
marks it failed). Skipped steps are recorded with their reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playbook.core.errors import PlaybookError
from playbook.core.fileio import to_jsonable, utc_now, write_json_atomic
from playbook.reports.results import SCHEMA_VERSION, DayStatus, step_problem


class DayRecorder:
    """Collects one day's measurements into ``metrics.json``, saving after each step."""

    def __init__(self, output_dir: str | Path, day: int, profile: str):
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.output_dir / "metrics.json"
        self.data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,  # the layout playbook.reports.results reads
            "day": day,
            "profile": profile,
            "status": "running",
            "started_utc": utc_now(),
            "steps": {},
            "skipped": {},
        }
        self.save()

    def record(self, step: str, value: Any) -> None:
        """Saved at once (a later crash keeps it). Returns nothing: a cell ending in ``record(...)`` must not echo
        the value into the report (the cell's own table or print says it for a reader).

        The step is checked against the day's result model first (``playbook.reports.results``), so a value the
        readers could not parse fails here, in the cell that made it, not later in a report. A rejected value is
        still kept, in ``rejected-<step>.json`` beside ``metrics.json``: nothing measured is lost."""
        jsonable = to_jsonable(value)
        problem = step_problem(self.data["day"], step, jsonable)
        if problem:
            write_json_atomic(self.output_dir / f"rejected-{step}.json", jsonable)
            raise PlaybookError(
                f"step {step!r} of day {self.data['day']} does not fit its result model: {problem} "
                f"(kept in rejected-{step}.json; declare or fix it in playbook.reports.results)"
            )
        self.data["steps"][step] = jsonable
        self.save()

    def check(self, ok: bool, message: str) -> None:
        """One check's outcome, for the report's Checks section (kept in order, saved at once)."""
        self.data.setdefault("checks", []).append({"ok": bool(ok), "message": message})
        self.save()

    def skip(self, step: str, reason: str) -> None:
        self.data["skipped"][step] = reason
        self.save()
        print(f"SKIPPED {step}: {reason}")

    def finish(self, status: DayStatus = "ok") -> None:
        self.data["status"] = status
        self.data["finished_utc"] = utc_now()
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.data)
