"""What makes two engines' numbers comparable (issue #31): no prompt sent twice, the prefix-cache hit rate
beside every level, rounds with a spread, and no winner inside the spread."""

from __future__ import annotations

import pytest

from playbook.core.errors import PlaybookError
from playbook.core.profiles import Day7Settings
from playbook.days import day7, selection
from playbook.load import cache, loadgen, sweep
from playbook.load.datasets import build_requests
from playbook.load.rounds import Spread, compare, level_rows
from playbook.reports.results import parse_day_result
from playbook.serving.endpoint import Endpoint
from playbook.serving.engines import Sample, prefix_cache_counters
from tests.support.http import QuietHandler, serving
from tests.support.results import day_metrics


def sent_prompts(monkeypatch) -> list[tuple[str, list[str]]]:
    """Every run_load call's (folder, prompts), the warm-up's variants included, the real load still sent."""
    calls: list[tuple[str, list[str]]] = []
    real = loadgen.run_load

    def recording(endpoint, config, samples, out_dir, *args, **kwargs):
        warm = [loadgen.warmup_sample(samples[i % len(samples)], i) for i in range(config.warmup_requests)]
        calls.append((str(out_dir), [s.messages[-1]["content"] for s in warm + list(samples)]))
        return real(endpoint, config, samples, out_dir, *args, **kwargs)

    monkeypatch.setattr(sweep, "run_load", recording)
    return calls


def test_no_two_levels_rounds_warm_ups_or_the_peak_share_a_prompt(mock_server, tmp_path, monkeypatch):
    _, url = mock_server
    settings = Day7Settings(sweep_concurrency=[1, 4], min_requests_per_level=4, waves_per_level=2, rounds=2,
                            peak_concurrency=8, peak_requests=8, warmup_requests=2, output_tokens=2)  # fmt: skip
    calls = sent_prompts(monkeypatch)
    pool = sweep.PromptPool(sweep.requests_for(settings, sweep.pool_size(settings), 0, None))
    endpoint = Endpoint(url, "mock-model")
    levels = day7.sweep(endpoint, settings, pool, tmp_path, seed=0)
    sweep.run_level(endpoint, settings, 8, 8, pool, tmp_path / "peak", 0)
    assert [lv.round for lv in levels] == [1, 2, 1, 2] and all(lv.result.status == "ok" for lv in levels)
    prompts = [p for _, sent in calls for p in sent]
    assert len(calls) == 5 and len(prompts) == (4 + 8) * 2 + 8 + 5 * 2
    assert len(set(prompts)) == len(prompts), "a prompt was sent twice"
    with pytest.raises(PlaybookError, match="re-send prompts"):
        pool.take(1)  # the pool was sized exactly: one more would repeat a prompt


def test_a_warm_up_prompt_differs_from_its_measured_twin_from_the_first_token():
    sample = build_requests("shared-prefix", 1, 0, None, prefix_tokens=32, suffix_tokens=8)[0]
    warm = loadgen.warmup_sample(sample, 0)
    assert warm.messages[0] == sample.messages[0], "a declared shared prefix stays shared"
    assert warm.messages[-1]["content"].startswith("Warm-up 1: ") and warm.max_tokens == sample.max_tokens


@pytest.mark.parametrize("dataset", ["synthetic", "shared-prefix"])
def test_datasets_draw_without_replacement(dataset):
    requests = build_requests(dataset, 3000, 7, None, input_tokens=16, suffix_tokens=8, prefix_tokens=32)
    texts = [r.messages[-1]["content"] for r in requests]
    assert len(set(texts)) == len(texts)


def test_a_shared_pool_may_wrap_a_distinct_one_may_not():
    samples = build_requests("synthetic", 3, 0, None, input_tokens=8)
    assert len(sweep.PromptPool(samples, shared=True).take(7)) == 7
    with pytest.raises(PlaybookError, match=r"size it with sweep\.pool_size"):
        sweep.PromptPool(samples).take(4)


VLLM_METRICS = [Sample("vllm:prefix_cache_hits_total", {"engine": "0"}, 160.0),
                Sample("vllm:prefix_cache_queries_total", {"engine": "0"}, 1000.0)]  # fmt: skip
SGLANG_METRICS = """\
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="qwen"} 4096.0
# TYPE sglang:cached_tokens_total counter
sglang:cached_tokens_total{model_name="qwen",cache_source="device"} 3000.0
sglang:cached_tokens_total{model_name="qwen",cache_source="host"} 168.0
"""


def test_each_engines_prefix_cache_counters_are_read_through_its_adapter():
    from prometheus_client.parser import text_string_to_metric_families

    sglang = [Sample(s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(SGLANG_METRICS)
              for s in f.samples]  # fmt: skip
    assert prefix_cache_counters(sglang) == (3168.0, 4096.0)  # every cache tier counted
    assert prefix_cache_counters(VLLM_METRICS) == (160.0, 1000.0)
    assert prefix_cache_counters([Sample("other:thing", {}, 1.0)]) is None


def test_a_level_is_contaminated_only_above_what_the_workload_shares():
    assert cache.judge(0.18, 0.17, False).contaminated is False  # the chat template's opening, shared by all
    assert cache.judge(0.40, 0.17, False).contaminated is True  # re-sent prompts
    assert cache.judge(0.90, None, True).contaminated is None  # declared shared: hits are the point
    assert cache.judge(None, 0.17, False).contaminated is None  # no counters: not judged, not hidden either


def test_the_selection_skips_a_contaminated_level():
    rows = [{"concurrency": 8, "status": "ok", "output_tok_s": 100.0},
            {"concurrency": 64, "status": "ok", "output_tok_s": 300.0, "cache_contaminated": True}]  # fmt: skip
    from playbook.reports.results import SweepRow

    best = selection.best_level_within_slo([SweepRow(**r) for r in rows], None, None)
    assert best.concurrency == 8


def test_rounds_give_a_median_and_a_spread():
    rounds = ((1, 100.0), (2, 110.0), (3, 104.0))
    rows = [{"concurrency": 64, "round": r, "status": "ok", "output_tok_s": v, "tpot_p50_ms": 20.0 + r,
             "ttft_p99_ms": 300.0, "cache_contaminated": r == 3} for r, v in rounds]  # fmt: skip
    (row,) = level_rows(rows)
    assert row["rounds"] == 3 and row["output_tok_s"] == 104.0 and row["tpot_p50_ms"] == 22.0
    assert (row["output_tok_s_low"], row["output_tok_s_high"]) == (100.0, 110.0)
    assert row["output_tok_s_spread_pct"] == pytest.approx(100 * 10 / 104)
    assert row["cache_contaminated"] is True and "round" not in row


def test_a_difference_inside_the_spread_is_no_difference():
    a, b = Spread(103.0, 96.0, 106.0, 3), Spread(100.0, 95.0, 105.0, 3)  # 3 % apart, 10 % spread
    assert compare("output tok/s", a, b).verdict == "no measurable difference"
    assert compare("output tok/s", Spread(130.0, 128.0, 133.0, 3), b).verdict == "better"
    assert compare("TPOT", Spread(130.0, 128.0, 133.0, 3), b, higher_is_better=False).verdict == "worse"
    assert compare("output tok/s", Spread(130.0, 130.0, 130.0, 1), b).verdict == "spread unknown"


def two_engines(vllm_rounds: list[float], sglang_rounds: list[float]) -> dict[str, selection.Evidence]:
    def evidence(engine: str, values: list[float]) -> selection.Evidence:
        rows = level_rows([{"concurrency": 256, "round": i, "status": "ok", "output_tok_s": v}
                           for i, v in enumerate(values, 1)])  # fmt: skip
        result = parse_day_result(day_metrics(7, {"sweep": rows}))
        return selection.Evidence({7: result}, engine, engine)

    return {"vllm": evidence("vllm", vllm_rounds), "sglang": evidence("sglang", sglang_rounds)}


def test_the_selection_calls_a_winner_only_outside_the_spread():
    tie = selection.throughput_differences(two_engines([100, 95, 105], [103, 96, 106]))
    assert tie["sglang"].startswith("c=256: no measurable difference") and "+3.0 %" in tie["sglang"]
    win = selection.throughput_differences(two_engines([100, 95, 105], [130, 128, 133]))
    assert win["sglang"].startswith("c=256: sglang is better") and win["vllm"].startswith("c=256: vllm is worse")
    one = selection.throughput_differences(two_engines([100], [130]))
    assert "not a measured difference" in one["sglang"]


def test_the_shared_share_is_what_every_prompt_begins_with():
    assert cache.shared_prefix_share([[1, 2, 3, 9, 9], [1, 2, 3, 8], [1, 2, 3, 7, 7, 7]]) == pytest.approx(3 / 5)
    assert cache.shared_prefix_share([[5, 1], [6, 1]]) == 0.0
    assert cache.shared_prefix_share([[1, 2], [1, 2]]) == 1.0  # the same prompt twice: all of it is shared


def test_cache_counters_a_fresh_sglang_has_not_exported_yet_read_as_zero():
    """SGLang exports its cache counters from the first request on: the first level of a run reads them as zero
    before and gets its hit rate; a server with no /metrics at all still has none."""
    body = {"text": "# TYPE sglang:num_running_reqs gauge\nsglang:num_running_reqs 0.0\n"}

    class Metrics(QuietHandler):
        def do_GET(self):
            found = self.path == "/metrics"
            self.reply(200 if found else 404, body["text"].encode() if found else b"")

    with serving(Metrics) as url:
        endpoint = Endpoint(url, "m", None)
        before = cache.read_counters(endpoint)
        assert before == cache.CacheCounters(0.0, 0.0)
        body["text"] += SGLANG_METRICS  # the level ran: the counters appear
        use = cache.measured_use(endpoint, before, 0.1, False)
        assert use.hit_rate == 3168.0 / 4096.0 and use.contaminated is True
    assert cache.read_counters(Endpoint("http://127.0.0.1:9", "m", None)) is None  # nothing serves metrics there


def test_a_round_that_repeats_prompts_starts_cold_on_each_engine():
    """SGLang's cache is emptied through its flush endpoint, with the key; vLLM's round gets a salt no other
    round has, carried in every request; a refused flush stops the comparison instead of measuring hits."""
    status, seen = {"status": 200}, []

    class Flush(QuietHandler):
        def do_POST(self):
            seen.append((self.path, self.headers.get("Authorization")))
            self.reply(status["status"], b"busy" if status["status"] != 200 else b"Cache flushed.")

    with serving(Flush) as url:
        endpoint = Endpoint(url, "m", "k3y")
        flushed = cache.cold_round(endpoint, "sglang", "r1")
        assert flushed == cache.ColdRound("flushed", {}) and seen == [("/flush_cache", "Bearer k3y")]
        status["status"] = 400  # SGLang refuses while requests run
        with pytest.raises(PlaybookError, match="refused to empty its prefix cache"):
            cache.cold_round(endpoint, "sglang", "r2")
    first, second = (cache.cold_round(endpoint, "vllm", "r") for _ in range(2))
    assert first.how == "salted" and set(first.request_fields) == {"cache_salt"}
    assert first.request_fields != second.request_fields  # a fresh salt a round
    samples = build_requests("synthetic", 3, 0, None, input_tokens=8, output_tokens=4)
    salted = cache.with_fields(samples, first.request_fields)
    assert all(s.extra_body["cache_salt"] == first.request_fields["cache_salt"] for s in salted)
    assert cache.with_fields(samples, {}) == samples and samples[0].extra_body is None  # the originals untouched
    with pytest.raises(PlaybookError, match="neither empty its prefix cache nor salt"):
        cache.cold_round(endpoint, "trtllm", "r")
