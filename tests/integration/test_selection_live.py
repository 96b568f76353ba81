"""The selection report over the whole CPU week: every day's notebook ran earlier in this session (Day 2 as an
end-to-end test, the others against live servers) and left its metrics.json in one run folder."""

from __future__ import annotations

import json

import papermill
import pytest

from playbook.days.selection import NOT_MEASURED
from playbook.run.runner import NOTEBOOKS_DIR

pytestmark = pytest.mark.server


def test_selection_report_reads_the_measured_week(week_run, tmp_path):
    missing = [d for d in range(1, 8) if not (week_run / f"day{d:02d}" / "metrics.json").exists()]
    if missing:
        pytest.fail(f"the tests of days {missing} must run first: the report reads the whole week")
    out = week_run / "day08"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "selection_report.ipynb"), str(tmp_path / "selection.ipynb"),
                               parameters={"output_dir": str(out), "structured_share": 0.5},
                               cwd=str(NOTEBOOKS_DIR), progress_bar=False)  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok", metrics.get("failures")
    table = {r["dimension"]: r for r in metrics["steps"]["evidence_table"]}
    assert table["E2E P99 at 1000 concurrent (Day 7)"]["vllm (measured)"] != NOT_MEASURED
    for row in (
        "Prefix-cache hit rate, shared-prefix workload (Day 3)",
        "Speculative decoding, best speedup at c=1 (Day 2)",
        "4-bit quality gate, vs the original (Day 4)",
        "Multi-LoRA: mixed-adapter / base-only throughput (Day 6)",
    ):
        assert table[row]["vllm (measured)"] != NOT_MEASURED, row
    assert "PASS" in table["4-bit quality gate, vs the original (Day 4)"]["vllm (measured)"]
    assert table["TTFT p50 at concurrency 1 (Day 7)"]["sglang (measured)"] == NOT_MEASURED
    decision = metrics["steps"]["decision"]
    assert decision["engine"] == "sglang" and any("prompt-only" in e for e in decision["evidence"])
    assert metrics["steps"]["cost"]["usd_per_million_output_tokens"] > 0
    # the verdict from the measurements: vLLM is the only engine measured on the CPU, whatever the article's tree says
    measured = metrics["steps"]["measured_verdict"]
    assert measured["engine"] == "vllm" and "the only engine measured" in measured["reason"]
    assert "the article would say sglang" in measured["agreement"]
    assert "your measurements say vllm" in measured["agreement"]
