"""Day 1 against a live vLLM CPU server (shared, float32)."""

from __future__ import annotations

import pytest

from playbook.days.day1 import reference_check
from playbook.load.client import make_client
from playbook.serving import serverinfo
from playbook.sizing.memory import compare_with_engine, plan_for

pytestmark = pytest.mark.server


def test_kv_estimate_matches_reported_capacity(live_server, cpu_profile, prepared_model):
    reported = serverinfo.reported_kv_capacity_tokens(live_server)
    assert reported is not None
    comparison = compare_with_engine(plan_for(cpu_profile, prepared_model), reported)
    block = 128
    assert abs(comparison.estimated_tokens - comparison.reported_tokens) < block, comparison.describe()


def test_reference_check_passes_in_float32(live_server, cpu_profile, prepared_model):
    d1 = cpu_profile.days.day1
    client = make_client(live_server)
    result = reference_check(client, live_server.model_name, prepared_model.local_dir, d1.reference_prompts[:3],
                             d1.reference_max_tokens, d1.min_reference_agreement)  # fmt: skip
    assert result.passed, [(c.server_text, c.reference_text) for c in result.comparisons]
    assert all(len(c.server_token_ids) > 0 for c in result.comparisons)


def test_day1_notebook_attached_to_live_server(live_server, run_day_notebook):
    metrics = run_day_notebook("day1_serve_validate.ipynb", "day01", base_url=live_server.base_url)
    steps = metrics["steps"]
    assert metrics["status"] == "ok" and metrics["failures"] == []
    assert any("Paris" in q["answer"] for q in steps["known_questions"])
    assert steps["reference_check"]["mean_agreement"] >= 0.9
    latency = steps["latency"]
    assert latency["successes"] == latency["requests"] == 5
    assert 0 < latency["ttft"]["p50_ms"] < latency["e2e"]["p50_ms"]
    assert latency["tpot"]["mean_ms"] > 0
    assert steps["curl"]["exit_code"] == 0 and steps["curl"]["answer"]
    assert live_server.is_alive(), "an attached notebook must not stop a server it did not start"
