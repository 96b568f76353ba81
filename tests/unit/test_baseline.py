"""Baselines: an unchanged run passes, a seeded regression is flagged, others are refused."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from pydantic import TypeAdapter

from playbook.core.errors import PlaybookError
from playbook.load.baseline import BaselineIdentity, compare, load_baseline, make_baseline, save_baseline
from playbook.load.metrics import LatencySummary

IDENTITY = BaselineIdentity(profile="cpu-smollm2", model="smollm2", engine="vllm", engine_version="0.32.0",
                            workload="synthetic, 16 in / 8 out, 1000 requests at c=1000")  # fmt: skip
SUMMARY: LatencySummary = TypeAdapter(LatencySummary).validate_python({
    "requests": 5, "successes": 5, "errors_by_kind": {}, "duration_s": 1.0,
    "ttft": {"count": 5, "mean_ms": 100.0, "p50_ms": 100.0, "p90_ms": 150.0, "p95_ms": 200.0, "p99_ms": 300.0},
    "tpot": {"count": 5, "mean_ms": 40.0, "p50_ms": 40.0, "p90_ms": 50.0, "p95_ms": 55.0, "p99_ms": 60.0},
    "itl": {"count": 5, "mean_ms": 40.0, "p50_ms": 40.0, "p90_ms": 50.0, "p95_ms": 55.0, "p99_ms": 60.0},
    "e2e": {"count": 5, "mean_ms": 1000.0, "p50_ms": 1000.0, "p90_ms": 1400.0, "p95_ms": 1500.0, "p99_ms": 2000.0},
    "request_throughput_rps": 5.0, "output_throughput_tok_s": 100.0, "total_throughput_tok_s": 400.0,
})  # fmt: skip


def with_latency(summary: LatencySummary, name: str, **stats: float) -> LatencySummary:
    return replace(summary, **{name: replace(getattr(summary, name), **stats)})


@pytest.fixture
def saved(tmp_path):
    return load_baseline(save_baseline(make_baseline(IDENTITY, SUMMARY, "run-0001"), tmp_path / "b.json"))


def test_a_saved_baseline_reads_back_as_it_was(saved, tmp_path):
    assert saved.identity == IDENTITY and saved.summary == SUMMARY and saved.source == "run-0001"
    assert json.loads((tmp_path / "b.json").read_text())["summary"]["ttft"]["p99_ms"] == 300.0  # the file's form


def test_unchanged_run_passes(saved):
    result = compare(saved, IDENTITY, SUMMARY, threshold_pct=10)
    assert not result.regressed and result.verdict.startswith("no regression")
    assert all(d.change_pct == 0 for d in result.deltas)


def test_seeded_latency_regression_is_flagged(saved):
    worse = with_latency(SUMMARY, "ttft", p99_ms=360.0)  # +20 %
    result = compare(saved, IDENTITY, worse, threshold_pct=10)
    assert result.regressed and result.verdict == "REGRESSION in TTFT p99 (ms)"
    assert "REGRESSION" in result.format_text()


def test_throughput_drop_is_a_regression_and_a_gain_is_not(saved):
    slower = replace(SUMMARY, output_throughput_tok_s=80.0)
    assert compare(saved, IDENTITY, slower, 10).verdict == "REGRESSION in output tok/s"
    faster = with_latency(replace(SUMMARY, output_throughput_tok_s=150.0), "e2e", p50_ms=500.0, p95_ms=700.0,
                          p99_ms=900.0)  # fmt: skip
    assert not compare(saved, IDENTITY, faster, 10).regressed


def test_small_moves_within_threshold_pass(saved):
    noisy = with_latency(SUMMARY, "e2e", p95_ms=1600.0)  # +6.7 %
    assert not compare(saved, IDENTITY, noisy, 10).regressed


@pytest.mark.parametrize("field", ["profile", "model", "engine_version", "workload"])
def test_comparison_refuses_another_setup(saved, field):
    other = IDENTITY.model_copy(update={field: "something-else"})
    with pytest.raises(PlaybookError, match=f"refusing to compare.*{field}"):
        compare(saved, other, SUMMARY, 10)


def test_missing_baseline_says_how_to_make_one(tmp_path):
    with pytest.raises(PlaybookError, match="playbook baseline save"):
        load_baseline(tmp_path / "none.json")


def test_a_file_that_is_not_a_baseline_is_one_line_naming_the_field(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({**IDENTITY.model_dump(), "summary": {"requests": "many"}, "source": "x"}))
    with pytest.raises(PlaybookError, match=r"is not a baseline \(summary\.requests: .*playbook baseline save"):
        load_baseline(path)


def test_a_run_with_other_prompt_lengths_is_not_compared(saved):
    from playbook.core.profiles import load_profile
    from playbook.days.day7 import baseline_identity

    def identity(*overrides):
        settings = load_profile("cpu-smollm2", list(overrides)).days.day7
        return baseline_identity("cpu-smollm2", "smollm2", "vllm", "0.32.0", settings)

    assert identity() == IDENTITY
    longer = identity("days.day7.input_tokens=512")
    with pytest.raises(PlaybookError, match=r"workload: baseline .*16 in.* vs run .*512 in.*playbook baseline save"):
        compare(saved, longer, SUMMARY, 10)


def test_a_run_that_recorded_no_workload_cannot_become_a_baseline():
    old_run = IDENTITY.model_copy(update={"workload": None})  # Day 7 runs before 2026-12-01
    with pytest.raises(PlaybookError, match="a baseline needs workload"):
        make_baseline(old_run, SUMMARY, "run-0001")


def test_a_baseline_saved_before_workloads_were_recorded_is_refused_with_the_fix(saved, tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({k: v for k, v in json.loads(saved.model_dump_json()).items() if k != "workload"}))
    with pytest.raises(PlaybookError, match=r"workload: baseline None.*playbook baseline save"):
        compare(load_baseline(path), IDENTITY, SUMMARY, 10)


def test_the_cli_saves_a_committed_runs_day7_and_compares_a_run_with_it(tmp_path, capsys):
    from playbook.cli import main
    from playbook.core.profiles import REPO_ROOT

    week = str(REPO_ROOT / "reference" / "cpu-2026-12-04-week")
    assert main(["baseline", "save", "--run", week, "--outputs", str(tmp_path)]) == 0
    saved = load_baseline(tmp_path / "baselines" / "cpu-smollm2-day7.json")
    assert saved.source == week and saved.summary.successes > 0
    assert main(["baseline", "compare", "--run", week, "--outputs", str(tmp_path)]) == 0
    assert "no regression beyond 25 %" in capsys.readouterr().out
