"""The charts Days 1, 3, 5 and 6 draw, on small known data: the bars and curves carry the numbers they were given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd

from playbook.days import day1, day3, day6, gpu_sharing
from playbook.load.client import RequestRecord


def test_day1_cdf_reaches_one_at_the_slowest_request():
    records = [RequestRecord(request_id=i, start_unix_s=0.0, ttft_ms=10.0 * (i + 1), e2e_ms=100.0, success=True,
                             itl_ms=[5.0] * 4, completion_tokens=5) for i in range(4)]  # fmt: skip
    fig = day1.plot_latency_cdf(records)
    xs, ys = fig.axes[0].lines[0].get_data()
    assert list(xs) == [10.0, 20.0, 30.0, 40.0] and ys[-1] == 1.0
    assert fig.axes[0].get_xlabel() == "TTFT (ms)" and fig.axes[1].get_xlabel() == "TPOT (ms)"


def test_day3_bars_compare_the_grammar_and_the_cache_per_engine():
    structured = [
        {"engine": "vllm", "workload": "structured", "constrained": c, "concurrency": 1, "tpot_p50_ms": t}
        for c, t in ((False, 40.0), (True, 45.0))
    ]
    cached = [("vllm", True, 20.0), ("vllm", False, 60.0), ("sglang", True, 25.0)]
    shared = [{"engine": e, "workload": "shared-prefix", "prefix_caching": on, "ttft_p50_ms": t} for e, on, t in cached]
    rows = structured + shared
    fig = day3.plot_comparison(rows)
    assert sorted(p.get_height() for p in fig.axes[0].patches) == [40.0, 45.0]
    heights = sorted(h for p in fig.axes[1].patches if (h := p.get_height()))  # sglang has no "off" bar: height 0
    assert heights == [20.0, 25.0, 60.0] and fig.axes[1].get_ylabel() == "TTFT p50 (ms)"


def test_day6_shows_routing_rates_in_percent_and_throughput_per_mix():
    rates = pd.DataFrame({"model": ["base", "acme-tag"], "acme-tag behaviour": [0.0, 1.0]}).set_index("model")
    load = [{"traffic": "base only", "output_tok_s": 76.0}, {"traffic": "uniform over adapters", "output_tok_s": 40.0}]
    fig = day6.plot_adapters(rates, load)
    assert sorted(p.get_height() for p in fig.axes[0].patches) == [0.0, 100.0]
    assert sorted(p.get_width() for p in fig.axes[1].patches) == [40.0, 76.0]


def test_day5_stacks_the_split_instances_beside_the_one_alone():
    attempts = [{"label": "alone", "output_tok_s": 100.0, "kv_capacity_tokens": 2_000_000},
                {"label": "second-same-share", "output_tok_s": None, "kv_capacity_tokens": None},
                {"label": "split-1", "output_tok_s": 70.0, "kv_capacity_tokens": 900_000},
                {"label": "split-2", "output_tok_s": 60.0, "kv_capacity_tokens": 900_000}]  # fmt: skip
    fig = gpu_sharing.plot_sharing(attempts)
    bars = [(p.get_y(), p.get_height()) for p in fig.axes[0].patches]
    assert bars == [(0.0, 100.0), (0.0, 70.0), (70.0, 60.0)]  # the split pair stacks to 130 tok/s
    assert [round(p.get_height(), 2) for p in fig.axes[1].patches] == [2.0, 0.9, 0.9]
    assert fig.axes[0].get_ylabel() == "output tokens/s"
