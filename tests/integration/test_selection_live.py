"""The selection report over the live days' results (Day 3 and Day 7 ran earlier in this session)."""

from __future__ import annotations

import json

import papermill
import pytest

from playbook.runner import NOTEBOOKS_DIR
from playbook.selection import NOT_MEASURED

pytestmark = pytest.mark.server


def test_selection_report_reads_the_measured_week(week_run, tmp_path):
    if not (week_run / "day07").exists() or not (week_run / "day03").exists():
        pytest.fail("the Day 3 and Day 7 live tests must run first (they feed this report)")
    out = week_run / "day08"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "selection_report.ipynb"), str(tmp_path / "selection.ipynb"),
                               parameters={"output_dir": str(out), "structured_share": 0.5},
                               cwd=str(NOTEBOOKS_DIR), progress_bar=False)  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok", metrics.get("failures")
    table = {r["dimension"]: r for r in metrics["steps"]["evidence_table"]}
    assert table["E2E P99 at 1000 concurrent (Day 7)"]["vllm (measured)"] != NOT_MEASURED
    assert table["Prefix-cache hit rate, shared-prefix workload (Day 3)"]["vllm (measured)"] != NOT_MEASURED
    assert table["TTFT p50 at concurrency 1 (Day 7)"]["sglang (measured)"] == NOT_MEASURED
    decision = metrics["steps"]["decision"]
    assert decision["engine"] == "sglang" and any("prompt-only" in e for e in decision["evidence"])
    assert metrics["steps"]["cost"]["usd_per_million_output_tokens"] > 0
