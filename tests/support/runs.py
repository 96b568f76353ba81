"""Feeding the selection report in the live tests: each day's metrics.json into one run folder."""

from __future__ import annotations

import shutil
from pathlib import Path


def keep_for_selection(week_run: Path, day_dir: Path) -> None:
    (week_run / day_dir.name).mkdir(exist_ok=True)
    shutil.copy(day_dir / "metrics.json", week_run / day_dir.name / "metrics.json")
