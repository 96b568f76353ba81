"""Percentiles against numpy, TPOT and ITL from known timestamps, prefix agreement."""

from __future__ import annotations

import numpy as np
import pytest

from playbook.load.client import RequestRecord
from playbook.load.greedy import prefix_agreement
from playbook.load.metrics import Distribution, summarize


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
