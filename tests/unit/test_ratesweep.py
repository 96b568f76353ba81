"""The max-rate search on a mock server with a capacity (``--max-running``: past it requests queue): doubling until
goodput falls, then bisecting; every step kept; bad settings refused by flag name."""

from __future__ import annotations

import itertools
import json

import pytest
from pydantic import ValidationError

from playbook.load.datasets import build_requests
from playbook.load.loadgen import arrival_offsets
from playbook.load.ratesweep import RateSearchSettings, find_max_rate, next_rate
from playbook.load.sweep import PromptPool
from playbook.serving.endpoint import Endpoint
from tests.support.mock import start_mock


def test_the_search_doubles_until_a_step_fails_then_bisects():
    assert next_rate(None, None, 2.0) == 4.0
    assert next_rate(4.0, None, 4.0) == 8.0
    assert next_rate(None, 1.0, 1.0) == 0.5  # the start rate already failed: halve
    assert next_rate(4.0, 8.0, 8.0) == 6.0


def test_a_capacity_limited_server_is_found_between_the_rate_it_held_and_the_one_it_did_not(tmp_path):
    # 2 streams at once, 10 ms + 7 x 5 ms each: about 44 requests/s at most
    proc, url = start_mock("--max-running", "2", "--tokens-per-s", "200", "--ttft-ms", "10")
    settings = RateSearchSettings(slo_ttft_ms=150, start_rate=5, step_s=1.5, min_requests=8, max_requests=200,
                                  max_steps=7, resolution=0.3, budget_s=120)  # fmt: skip
    pool = PromptPool(build_requests("synthetic", 7 * 200, 0, input_tokens=8, output_tokens=8))
    try:
        search = find_max_rate(Endpoint(url, "mock-model"), settings, pool.take, tmp_path)
    finally:
        proc.kill()
    rates = [s.offered_rps for s in search.steps]
    assert rates[:3] == [5, 10, 20] and all(s.sustained for s in search.steps[:3])
    assert search.first_failed_rps is not None and search.first_failed_rps <= 160
    assert 20 <= search.max_sustained_rps < search.first_failed_rps
    failed = next(s for s in search.steps if not s.sustained)
    assert failed.goodput < 0.9 and failed.ttft_p99_ms > 150  # the queue grew past the SLO
    saved = json.loads((tmp_path / "ratesweep.json").read_text())
    assert saved["max_sustained_rps"] == search.max_sustained_rps and len(saved["steps"]) == len(rates)
    assert (tmp_path / "rate-1" / "requests.csv").exists()


def test_a_search_without_an_slo_is_refused():
    with pytest.raises(ValidationError, match="give slo_ttft_ms or slo_tpot_ms"):
        RateSearchSettings(start_rate=1)


def test_bursty_arrivals_keep_the_mean_rate_and_spread_the_gaps():
    steady = arrival_offsets(4000, 10.0, "poisson", 0)
    bursty = arrival_offsets(4000, 10.0, "poisson", 0, burstiness=0.25)
    assert steady[-1] / 4000 == pytest.approx(0.1, rel=0.08) and bursty[-1] / 4000 == pytest.approx(0.1, rel=0.15)

    def spread(offsets):
        gaps = [b - a for a, b in itertools.pairwise(offsets)]
        mean = sum(gaps) / len(gaps)
        return (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5 / mean

    assert spread(bursty) > 1.5 * spread(steady)  # gamma shape 1/4: coefficient of variation 2 against 1


def test_the_cli_writes_the_table_the_json_and_the_chart(tmp_path, capsys):
    from playbook.cli import main

    proc, url = start_mock("--max-running", "2", "--tokens-per-s", "200", "--ttft-ms", "10")
    try:
        code = main(["ratesweep", "--base-url", url, "--model", "mock-model", "--slo-ttft-ms", "150",
                     "--start-rate", "20", "--step-s", "1", "--min-requests", "8", "--max-requests", "200",
                     "--max-steps", "3", "--input-tokens", "8", "--output-tokens", "8",
                     "--out", str(tmp_path)])  # fmt: skip
    finally:
        proc.kill()
    printed = capsys.readouterr().out
    assert code == 0 and "max sustained: " in printed and (tmp_path / "ratesweep.png").stat().st_size > 1000
    assert len(json.loads((tmp_path / "ratesweep.json").read_text())["steps"]) == 3
