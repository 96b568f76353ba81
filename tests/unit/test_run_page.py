"""A run's front page: the selection verdict first, each day's summary box with a link to its report, and a
day that never wrote its file said in one line."""

from __future__ import annotations

import json

from playbook.reports.run_page import write_run_page
from tests.support.results import day_metrics, run_manifest, summary


def test_the_run_page_leads_with_the_decision_and_shows_every_day(tmp_path):
    run = tmp_path / "2026-11-30" / "run-0001"
    days = [{"day": 7, "title": "Load test", "folder": "day07", "status": "ok", "error": None},
            {"day": 3, "title": "Structured output", "folder": "day03", "status": "failed", "error": "Kernel died"},
            {"day": 8, "title": "Engine selection", "folder": "day08", "status": "ok", "error": None}]  # fmt: skip
    environment = {"hardware_summary": "CPU only", "engine_version": "0.32.0", "git_commit": "abcdef1234567"}
    manifest = run_manifest("run-0001", date="2026-11-30", status="failed", environment=environment, days=days)
    (run / "day07").mkdir(parents=True)
    (run / "day08").mkdir()
    (run / "manifest.json").write_text(json.dumps(manifest))
    peak = {"peak": {"status": "ok", "summary": summary(36.0)}}
    (run / "day07" / "metrics.json").write_text(json.dumps(day_metrics(7, peak)))
    decision = {"decision": {"engine": "vllm", "runner_up": None, "rule": "general-purpose serving"}}
    (run / "day08" / "metrics.json").write_text(json.dumps(day_metrics(8, decision)))
    page = write_run_page(run).read_text()
    assert "<title>run-0001 · cpu-smollm2 · 2026-11-30" in page
    assert page.index("Engine selection: <strong>vllm</strong>") < page.index("Day 7: Load test")
    assert 'href="day07/report.html"' in page and "1/1 ok" in page  # the Day 7 box
    assert "Kernel died" in page and "No summary:" in page and "cannot be read as JSON" in page  # Day 3 never wrote


def test_the_measured_verdict_comes_before_the_articles_tree_and_the_gpu_check_is_shown(tmp_path):
    run = tmp_path / "2026-12-03" / "run-0001"
    (run / "day08").mkdir(parents=True)
    days = [{"day": 8, "title": "Engine selection", "folder": "day08", "status": "ok", "error": None}]
    check = {"verdict": ["SLOW MACHINE: this NVIDIA H200 reached 61% of its usual copy bandwidth"]}
    manifest = run_manifest("run-0001", "h100", date="2026-12-03", days=days, gpu_check=check)
    (run / "manifest.json").write_text(json.dumps(manifest))
    steps = {"decision": {"engine": "vllm", "runner_up": None, "rule": "general-purpose serving"},
             "measured_verdict": {"engine": "sglang", "reason": "sglang has more headroom", "tie": False,
                                  "agreement": "the article would say vllm; your measurements say sglang"}}  # fmt: skip
    (run / "day08" / "metrics.json").write_text(json.dumps(day_metrics(8, steps)))
    page = write_run_page(run).read_text()
    assert page.index("Measured verdict: <strong>sglang</strong>") < page.index("The article's tree: <strong>vllm")
    assert "SLOW MACHINE: this NVIDIA H200 reached 61%" in page
