"""Day 7 against the shared live vLLM CPU server: a real 1000-concurrent step."""

from __future__ import annotations

import json

import pytest

from tests.support.results import sized

pytestmark = pytest.mark.server


def test_day7_notebook_with_1000_concurrent_requests(live_server, machine_speed, run_day_notebook, tmp_path):
    metrics = run_day_notebook("day7_load_test.ipynb", "day07", machine_speed, base_url=live_server.base_url)
    out = tmp_path / "day07"
    assert metrics["status"] == "ok", metrics.get("failures")
    peak = metrics["steps"]["peak"]
    assert peak["config"]["concurrency"] == 1000
    assert peak["summary"]["requests"] == peak["summary"]["successes"] == 1000
    assert peak["summary"]["ttft"]["p99_ms"] >= peak["summary"]["ttft"]["p50_ms"] > 0
    records = (out / "peak-c1000" / "requests.jsonl").read_text().splitlines()
    assert len(records) == 1000 and all(json.loads(r)["completion_tokens"] == 8 for r in records)
    server_rows = [json.loads(r) for r in (out / "peak-c1000" / "server_metrics.jsonl").read_text().splitlines()]
    assert max(r.get("running", 0) + r.get("waiting", 0) for r in server_rows) > 100, "the server saw the load"
    sweep = {row["concurrency"]: row for row in metrics["steps"]["sweep"]}
    assert set(sweep) == {1, 8, 64} and all(row["ok"] == row["requests"] for row in sweep.values())
    # steady state, not a burst: the waves sized to this machine (2 at the least), measured between the first wave
    # and the drain; the 1000-request burst is never sized
    waves = sized(metrics, "waves_per_level")
    assert all(row["waves"] >= waves and row["measured"] == "steady state" for row in sweep.values())
    assert sweep[64]["requests"] == waves * 64 and sweep[64]["measured_requests"] < waves * 64
    # a baseline is compared only with a run of the same workload
    assert metrics["steps"]["baseline_identity"]["workload"] == "synthetic, 16 in / 8 out, 1000 requests at c=1000"
    # one definition for every rate of a row: req/s x tokens per request = output tok/s; the cache measured
    for row in sweep.values():
        assert row["req_s"] * 8 == pytest.approx(row["output_tok_s"], rel=0.02), row
        assert row["prefix_cache_hit_rate"] is not None and row["cache_contaminated"] is False, row
    assert sweep[1]["start"] == "all at once" and sweep[64]["start"].startswith("ramp over")
    assert 0.1 < metrics["steps"]["workload"]["template_share"] < 0.6  # SmolLM2's template opens every prompt alike
    # the open-loop rate search: doubling from half the sweep's best rate until goodput under the 2 s TTFT SLO fails
    search = metrics["steps"]["rate_search"]
    held = [step["offered_rps"] for step in search["steps"] if step["sustained"]]
    failed = [step["offered_rps"] for step in search["steps"] if not step["sustained"]]
    assert held and failed and search["max_sustained_rps"] == max(held) < min(failed), search
    assert (out / "rate" / "ratesweep.json").exists() and (out / "rate" / "rate-1" / "requests.csv").exists()
