"""A server that dies in the middle of Day 7's sweep: the measured levels are kept, Day 7 ends
``partial`` (not failed), the run is ``partial``, and the next day still runs."""

from __future__ import annotations

import json

import pytest

from playbook.run.runner import run_playbook
from tests.support.mock import start_mock

pytestmark = pytest.mark.slow


def test_server_death_mid_sweep_marks_day_and_run_partial_and_next_day_runs(tmp_path):
    # c=1 finishes (2 warm-up + 16 = 18 answers); c=8 (2 warm-up, then waves of 8) dies at answer 26, inside its
    # first wave, so its second wave is sent to a dead server whatever the timing
    proc, url = start_mock("--die-after", "26")
    overrides = [f"server.base_url={url}", "model.served_name=mock-model",
                 "days.day7.sweep_concurrency=[1,8,64]", "days.day7.min_requests_per_level=16",
                 "days.day7.warmup_requests=2"]  # fmt: skip
    try:
        run_dir = run_playbook("cpu-smollm2", [7, 8], overrides, outputs_root=tmp_path)
    finally:
        proc.kill()
        proc.wait()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    day7, day8 = manifest["days"]
    assert manifest["status"] == "partial"
    assert day7["status"] == "partial" and "c=8" in day7["error"], day7
    assert day8["status"] == "ok", day8
    metrics = json.loads((run_dir / "day07" / "metrics.json").read_text())
    levels = {row["concurrency"]: row for row in metrics["steps"]["sweep"]}
    assert set(levels) == {1, 8} and levels[1]["ok"] == 16 and 4 <= levels[8]["ok"] < 16
    assert "peak" not in metrics["steps"] and "levels_not_run" in metrics["skipped"]
    kept = (run_dir / "day07" / "c0008" / "requests.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["success"] for line in kept) == levels[8]["ok"]
