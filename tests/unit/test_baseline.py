"""Baselines: an unchanged run passes, a seeded regression is flagged, others are refused."""

from __future__ import annotations

import copy

import pytest

from playbook.core.errors import PlaybookError
from playbook.load.baseline import compare, load_baseline, make_baseline, save_baseline

IDENTITY = {
    "profile": "cpu-smollm2",
    "model": "smollm2",
    "engine": "vllm",
    "engine_version": "0.32.0",
    "workload": "synthetic, 64 in / 8 out, 1000 requests at c=1000",
}
SUMMARY = {
    "ttft": {"p50_ms": 100.0, "p95_ms": 200.0, "p99_ms": 300.0},
    "tpot": {"p50_ms": 40.0, "p99_ms": 60.0},
    "e2e": {"p50_ms": 1000.0, "p95_ms": 1500.0, "p99_ms": 2000.0},
    "output_throughput_tok_s": 100.0,
    "request_throughput_rps": 5.0,
}


@pytest.fixture
def saved(tmp_path):
    return load_baseline(save_baseline(make_baseline(IDENTITY, SUMMARY, "run-0001"), tmp_path / "b.json"))


def test_unchanged_run_passes(saved):
    result = compare(saved, IDENTITY, SUMMARY, threshold_pct=10)
    assert not result.regressed and result.verdict.startswith("no regression")
    assert all(d.change_pct == 0 for d in result.deltas)


def test_seeded_latency_regression_is_flagged(saved):
    worse = copy.deepcopy(SUMMARY)
    worse["ttft"]["p99_ms"] = 360.0  # +20 %
    result = compare(saved, IDENTITY, worse, threshold_pct=10)
    assert result.regressed and result.verdict == "REGRESSION in TTFT p99 (ms)"
    assert "REGRESSION" in result.format_text()


def test_throughput_drop_is_a_regression_and_a_gain_is_not(saved):
    slower = {**SUMMARY, "output_throughput_tok_s": 80.0}
    assert compare(saved, IDENTITY, slower, 10).verdict == "REGRESSION in output tok/s"
    faster = {**SUMMARY, "output_throughput_tok_s": 150.0, "e2e": {"p50_ms": 500.0, "p95_ms": 700.0, "p99_ms": 900.0}}
    assert not compare(saved, IDENTITY, faster, 10).regressed


def test_small_moves_within_threshold_pass(saved):
    noisy = copy.deepcopy(SUMMARY)
    noisy["e2e"]["p95_ms"] = 1600.0  # +6.7 %
    assert not compare(saved, IDENTITY, noisy, 10).regressed


@pytest.mark.parametrize("field", ["profile", "model", "engine_version", "workload"])
def test_comparison_refuses_another_setup(saved, field):
    other = {**IDENTITY, field: "something-else"}
    with pytest.raises(PlaybookError, match=f"refusing to compare.*{field}"):
        compare(saved, other, SUMMARY, 10)


def test_missing_baseline_says_how_to_make_one(tmp_path):
    with pytest.raises(PlaybookError, match="playbook baseline save"):
        load_baseline(tmp_path / "none.json")


def test_a_run_with_other_prompt_lengths_is_not_compared(saved):
    from playbook.core.profiles import load_profile
    from playbook.days.day7 import baseline_identity

    def identity(*overrides):
        settings = load_profile("cpu-smollm2", list(overrides)).days.day7
        return baseline_identity("cpu-smollm2", "smollm2", "vllm", "0.32.0", settings)

    assert identity()["workload"] == "synthetic, 64 in / 8 out, 1000 requests at c=1000"
    longer = identity("days.day7.input_tokens=512")
    with pytest.raises(PlaybookError, match=r"workload: baseline .*64 in.* vs run .*512 in.*playbook baseline save"):
        compare(saved, longer, SUMMARY, 10)


def test_a_baseline_saved_before_workloads_were_recorded_is_refused_with_the_fix(saved):
    old = {k: v for k, v in saved.items() if k != "workload"}
    with pytest.raises(PlaybookError, match=r"workload: baseline None.*playbook baseline save"):
        compare(old, IDENTITY, SUMMARY, 10)
