"""Reports that survive failure: metrics saved as they are measured, an index of runs.

:class:`DayRecorder` rewrites ``metrics.json`` after every step, so a day that dies
half-way still leaves what it measured, with ``status: running`` (the runner then
marks it failed). Skipped steps are recorded with their reason.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def to_jsonable(value: Any) -> Any:
    """Dataclasses, pydantic models, Paths and numpy scalars into plain JSON types."""
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temp file and rename: a crash never leaves half a JSON file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        json.dump(to_jsonable(data), handle, indent=2, ensure_ascii=False)
    os.replace(tmp, path)


class DayRecorder:
    """Collects one day's measurements into ``metrics.json``, saving after each step."""

    def __init__(self, output_dir: str | Path, day: int, profile: str):
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.output_dir / "metrics.json"
        self.data: dict[str, Any] = {
            "day": day,
            "profile": profile,
            "status": "running",
            "started_utc": utc_now(),
            "steps": {},
            "skipped": {},
        }
        self.save()

    def record(self, step: str, value: Any) -> Any:
        self.data["steps"][step] = to_jsonable(value)
        self.save()
        return value

    def skip(self, step: str, reason: str) -> None:
        self.data["skipped"][step] = reason
        self.save()
        print(f"SKIPPED {step}: {reason}")

    def finish(self, status: str = "ok") -> None:
        self.data["status"] = status
        self.data["finished_utc"] = utc_now()
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.data)


def load_runs(outputs_root: Path) -> list[dict[str, Any]]:
    """Every run's manifest under outputs/<date>/<run-id>/, newest first."""
    runs = []
    for manifest in Path(outputs_root).glob("*/run-*/manifest.json"):
        try:
            data = json.loads(manifest.read_text())
        except ValueError:
            continue
        data["_dir"] = str(manifest.parent.relative_to(outputs_root))
        runs.append(data)
    return sorted(runs, key=lambda r: r.get("run_id", ""), reverse=True)


def write_index(outputs_root: Path) -> Path:
    """``outputs/index.html``: one row per run with status, profile and engine versions."""
    env = Environment(loader=PackageLoader("playbook", "templates"), autoescape=select_autoescape())
    html = env.get_template("index.html.j2").render(runs=load_runs(outputs_root), generated=utc_now())
    path = Path(outputs_root) / "index.html"
    path.write_text(html)
    from playbook.trends import write_trends  # the trends page is rebuilt with the index

    write_trends(outputs_root)
    return path
