"""Day 2 on the CPU profile: ngram speculation vs none, each on its own live vLLM server."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


# Pinned at the floors days.worksize keeps on a slow machine: the test checks what the day measures, on any CPU
PINNED = ["days.day2.min_requests_per_level=4", "days.day2.output_tokens=24", "days.day2.lossless_prompts=4"]


def test_day2_ngram_vs_no_speculation(run_day_notebook):
    metrics = run_day_notebook("day2_speculative_decoding.ipynb", "day02", overrides=PINNED)
    steps = metrics["steps"]
    assert metrics["status"] == "ok", metrics.get("failures")
    speedups = [r for r in steps["speedup"] if r["method"] == "ngram-k4"]
    assert {(r["workload"], r["concurrency"]) for r in speedups} == {
        (w, c) for w in ("code-edit", "chat") for c in (1, 4, 16)}  # fmt: skip
    assert all(r["throughput_speedup"] > 0 and r["ok"] == r["requests"] for r in speedups)
    code = next(a for a in steps["acceptance"] if a["workload"] == "code-edit")
    assert code["drafts"] > 0 and 0 < code["acceptance_rate"] <= 1, "acceptance comes from the server's counters"
    assert len(code["acceptance_by_position"]) == 4
    lossless = steps["lossless_ngram-k4"]
    assert lossless["prompts"] == 4 and lossless["ties"] == sum(p["tie"] for p in lossless["partings"])
    assert lossless["lossless_share"] == pytest.approx(lossless["match_rate"] + lossless["ties"] / 4)
    assert steps["conclusion"] and steps["conclusion"][0].startswith("ngram-k4 on ")
    assert "draft_model" in " ".join(metrics["skipped"]), "methods that cannot run here say why"
    for run in ("run_none", "run_ngram-k4"):  # the planner's KV estimate against the engine's own number
        estimated, reported = steps[run]["kv_estimated_tokens"], steps[run]["kv_reported_tokens"]
        assert reported > 0 and abs(estimated - reported) < 128, (estimated, reported)
