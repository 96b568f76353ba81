"""Percentiles against numpy, TPOT and ITL from known timestamps, prefix agreement."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from playbook.core.profiles import Day7Settings
from playbook.load import sweep
from playbook.load.client import RequestRecord
from playbook.load.greedy import prefix_agreement
from playbook.load.metrics import Distribution, steady_state, steady_window, summarize


def test_distribution_matches_numpy():
    data = np.random.default_rng(0).lognormal(3, 1, 1000)
    dist = Distribution.of(data.tolist())
    assert dist.count == 1000
    assert dist.p50_ms == pytest.approx(np.percentile(data, 50))
    assert dist.p99_ms == pytest.approx(np.percentile(data, 99))
    assert dist.mean_ms == pytest.approx(data.mean())


def test_distribution_of_nothing():
    assert Distribution.of([None, None]).count == 0


def record(i, ttft, e2e, tokens, itl=(), start=0.0, ok=True):
    return RequestRecord(i, start, ttft_ms=ttft, e2e_ms=e2e, completion_tokens=tokens, prompt_tokens=10,
                         itl_ms=list(itl), success=ok, error_kind=None if ok else "http_500")  # fmt: skip


def test_tpot_from_known_timestamps():
    # first token at 100 ms, 5 tokens, last at 500 ms: (500 - 100) / 4 = 100 ms per output token
    assert record(0, 100, 500, 5).tpot_ms == 100
    assert record(0, 100, 100, 1).tpot_ms is None  # one token has no inter-token time
    assert record(0, 100, 500, 5, ok=False).tpot_ms is None


def test_summary_counts_errors_and_throughput():
    records = [record(0, 100, 1000, 11, itl=[90] * 10, start=0.0),
               record(1, 200, 1000, 11, itl=[80] * 10, start=1.0),
               record(2, None, 50, None, start=1.5, ok=False)]  # fmt: skip
    summary = summarize(records)
    assert summary.successes == 2 and summary.errors_by_kind == {"http_500": 1}
    assert summary.duration_s == pytest.approx(2.0)
    assert summary.output_throughput_tok_s == pytest.approx(22 / 2.0)
    assert summary.itl.count == 20 and summary.itl.p50_ms == pytest.approx(85)
    assert summary.tpot.mean_ms == pytest.approx(((1000 - 100) / 10 + (1000 - 200) / 10) / 2)


def test_a_summary_is_one_table_row_in_the_days_column_names():
    records = [record(0, 100, 1000, 11, start=0.0), record(1, 200, 1000, 11, start=1.0)]
    summary = summarize(records)
    row = summary.row("ok", "ttft_p50_ms", "output_tok_s")
    assert list(row) == ["ok", "ttft_p50_ms", "output_tok_s"]  # the order asked for
    assert row == {"ok": 2, "ttft_p50_ms": summary.ttft.p50_ms, "output_tok_s": summary.output_throughput_tok_s}
    everything = summary.row()
    assert everything["e2e_p99_ms"] == summary.e2e.p99_ms and "ttft_count" not in everything
    with pytest.raises(KeyError):
        summary.row("ttft_p42_ms")


def test_prefix_agreement():
    assert prefix_agreement([1, 2, 3, 4], [1, 2, 3, 4]) == (4, 1.0)
    assert prefix_agreement([1, 2, 9, 4], [1, 2, 3, 4]) == (2, 0.5)
    assert prefix_agreement([1, 2], [1, 2, 3, 4]) == (2, 0.5)  # an early stop counts against agreement
    assert prefix_agreement([], []) == (0, 1.0)


def closed_loop(concurrency: int, waves: int, first_wave_ttft_ms: float = 50.0) -> list[RequestRecord]:
    """A server that answers each request in 1 s (10 tokens, the first after TTFT, then every 100 ms), all
    ``concurrency`` slots recycled at once: wave k starts at k seconds, as each slot's answer ends. The first
    wave may queue longer (its answers still end at 1 s)."""
    records = []
    for wave in range(waves):
        ttft = first_wave_ttft_ms if wave == 0 else 50.0
        gap = (990 - ttft) / 9  # the last token 10 ms before the answer ends
        for slot in range(concurrency):
            records.append(record(wave * concurrency + slot, ttft, 1000.0, 10, itl=[gap] * 9, start=float(wave)))
    return records


def synchronized_waves(concurrency: int, waves: int, seed: int = 0) -> list[RequestRecord]:
    """What a real closed loop on a batching server looks like: every slot's answer ends within a few ms of the
    others (one batch), each slot starts its next request the moment its answer ends, so starts and ends
    cluster at the wave boundaries. Each request: 16 tokens, TTFT 80-120 ms, then 60 ms a token."""
    rng = np.random.default_rng(seed)
    records, free_at = [], [0.0] * concurrency
    for i in range(concurrency * waves):
        slot = i % concurrency
        start = free_at[slot]
        ttft = float(rng.uniform(80, 120))
        itl = [60.0 + float(rng.uniform(-3, 3)) for _ in range(15)]
        e2e = ttft + sum(itl)
        records.append(record(i, ttft, e2e, 16, itl=itl, start=start))
        free_at[slot] = start + e2e / 1000
    return records


def test_steady_rates_of_one_row_agree_with_each_other_and_with_littles_law():
    """req/s x output tokens per request = output tok/s (within 2 %), and req/s x mean E2E = the concurrency
    in flight (Little's law), on wave-shaped records where counting finished requests overcounted a wave."""
    for concurrency, waves in ((8, 4), (64, 4), (256, 4), (16, 12)):
        records = synchronized_waves(concurrency, waves)
        steady = steady_state(records, concurrency)
        assert steady.request_throughput_rps * 16 == pytest.approx(steady.output_throughput_tok_s, rel=0.02)
        in_flight = steady.request_throughput_rps * steady.e2e.mean_ms / 1000
        assert in_flight == pytest.approx(concurrency, rel=0.02), (concurrency, waves, in_flight)
        assert steady.total_throughput_tok_s == pytest.approx(steady.request_throughput_rps * (16 + 10), rel=0.02)


def test_a_ramped_first_wave_opens_the_window_once_every_slot_is_busy():
    records = synchronized_waves(8, 4)
    ramped = [replace(r, start_unix_s=r.start_unix_s + (r.request_id * 0.1 if r.request_id < 8 else 0.8))
              for r in records]  # fmt: skip
    opens, closes = steady_window(ramped, 8)
    assert opens == pytest.approx(max(r.start_unix_s for r in ramped if r.request_id < 8) + 0, abs=1.1)
    assert opens >= max(r.start_unix_s for r in ramped if r.request_id < 8)
    assert closes == max(r.start_unix_s for r in ramped)


def test_steady_state_counts_the_tokens_inside_the_window():
    steady = steady_state(closed_loop(4, 4), 4)
    # window: from the second wave's start (1 s) to the last wave's start (3 s); 2 waves x 4 slots x 10 tokens
    assert steady.duration_s == pytest.approx(2.0)
    assert steady.output_throughput_tok_s == pytest.approx(40.0)
    assert steady.requests == 12  # the requests started inside the window: waves 2, 3, 4


def test_steady_state_leaves_the_opening_burst_out():
    records = closed_loop(4, 4, first_wave_ttft_ms=500.0)
    assert summarize(records).ttft.p99_ms == pytest.approx(500.0)
    assert steady_state(records, 4).ttft.p99_ms == pytest.approx(50.0)


def test_one_wave_has_no_steady_state():
    assert steady_state(closed_loop(8, 1), 8) is None


def test_a_sweep_level_sends_the_waves_asked_for():
    settings = Day7Settings(min_requests_per_level=16, waves_per_level=4, sweep_concurrency=[1, 64], peak_requests=100)
    assert sweep.requests_per_level(settings, 1) == 16
    assert sweep.requests_per_level(settings, 64) == 256
    assert sweep.pool_size(settings) == 16 + 256 + 100  # every level and the peak run: prompts of their own


def test_greedy_ids_from_a_server_that_returns_only_the_prompt_ids_come_from_its_native_generate(mock_server):
    """SGLang 0.5's way (the mock answers like it): prompt ids in the chat choice, completion ids from /generate."""
    import openai

    from playbook.load.greedy import server_greedy

    _, url = mock_server
    client = openai.OpenAI(base_url=url + "/v1", api_key="none")
    prompt_ids, token_ids, text = server_greedy(client, "mock-model", "one two three", 4)
    assert prompt_ids == [0, 1, 2] and token_ids == [1000, 1001, 1002, 1003] and text == " tok0 tok1 tok2 tok3"
