"""Day 7's sweep when the server is gone between two levels: the levels measured are kept and the day
ends partial; gone before the first level, it is an error (a wrong address, or a server that never came up)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from playbook.core.profiles import Day7Settings
from playbook.days import day7
from playbook.load import sweep
from playbook.load.loadgen import EndpointUnreachable
from playbook.serving.endpoint import Endpoint

SETTINGS = Day7Settings(sweep_concurrency=[1, 8, 64], min_requests_per_level=4)


def fake_levels(monkeypatch, outcomes):
    """run_level answers each level with the next outcome: an exception to raise, or a level to return."""
    calls = iter(outcomes)

    def run_level(endpoint, settings, concurrency, n, pool, out_dir, seed, *rest):
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(day7, "run_level", run_level)


def measured(concurrency: int) -> sweep.LevelResult:
    level = sweep.unreachable_level(concurrency, 4, "")
    return sweep.LevelResult(concurrency, 4, SimpleNamespace(**{**level.result.__dict__, "status": "ok"}))


def test_a_server_gone_between_levels_ends_the_sweep_with_what_was_measured(monkeypatch, tmp_path):
    fake_levels(monkeypatch, [measured(1), EndpointUnreachable("endpoint x is unreachable"), measured(64)])
    levels = day7.sweep(Endpoint("http://x", "m"), SETTINGS, [], tmp_path, 0)
    assert [lv.concurrency for lv in levels] == [1, 8]
    assert levels[1].result.status == "partial" and "unreachable before this level started" in levels[1].result.error
    assert levels[1].result.summary.requests == 0


def test_a_server_unreachable_at_the_first_level_is_an_error(monkeypatch, tmp_path):
    fake_levels(monkeypatch, [EndpointUnreachable("endpoint x is unreachable")])
    with pytest.raises(EndpointUnreachable):
        day7.sweep(Endpoint("http://x", "m"), SETTINGS, [], tmp_path, 0)


class Ctx:
    def __init__(self):
        self.partials, self.failures = [], []

    def partial(self, message):
        self.partials.append(message)

    def check(self, ok, message):
        if not ok:
            self.failures.append(message)


def test_an_empty_level_after_measured_ones_is_partial_but_alone_a_failure():
    gone = sweep.unreachable_level(8, 4, "endpoint x is unreachable").result
    after, alone = Ctx(), Ctx()
    day7.judge_level(after, "c=8", gone, kept_earlier=True)
    day7.judge_level(alone, "c=1", gone)
    assert after.partials and not after.failures and "earlier levels are kept" in after.partials[0]
    assert alone.failures and not alone.partials


def test_the_slo_line_never_says_none():
    assert day7.slo_text(SETTINGS.model_copy(update={"slo_ttft_ms": None, "slo_tpot_ms": None})).startswith(
        "no SLO set"
    )
    assert (
        day7.slo_text(SETTINGS.model_copy(update={"slo_ttft_ms": 500.0, "slo_tpot_ms": None})) == "SLOs TTFT ≤ 500 ms"
    )


class FakeLevel:
    """A measured level with the throughput and latencies a test gives it."""

    def __init__(self, concurrency: int, tok_s: float, ttft_p99_ms: float = 100.0, tpot_ms: float = 10.0):
        self.concurrency, self.steady = concurrency, None
        self.result = SimpleNamespace(status="ok")
        self._row = {"concurrency": concurrency, "status": "ok", "output_tok_s": tok_s, "ttft_p99_ms": ttft_p99_ms,
                     "tpot_p50_ms": tpot_ms}  # fmt: skip

    def row(self) -> dict:
        return dict(self._row)


def test_extend_to_knee_doubles_past_the_listed_levels_until_the_throughput_stops_growing(monkeypatch, tmp_path):
    settings = Day7Settings(sweep_concurrency=[1, 8], extend_to_knee=True, max_concurrency=256,
                            min_requests_per_level=4)  # fmt: skip
    assert sweep.planned_levels(settings) == [1, 8, 16, 32, 64, 128, 256]
    throughput = {1: 100, 8: 700, 16: 1300, 32: 2000, 64: 2100, 128: 2150, 256: 2150}
    monkeypatch.setattr(day7, "run_level", lambda endpoint, s, c, *rest: FakeLevel(c, throughput[c]))
    levels = day7.sweep(Endpoint("http://x", "m"), settings, [], tmp_path, 0)
    assert [lv.concurrency for lv in levels] == [1, 8, 16, 32, 64]  # 32 -> 64 added 5 %: stop
    assert day7.sweep_end(settings, levels) == "knee at c=32: c=64 added +5 % throughput (< 10 %)"


def test_extend_to_knee_stops_where_an_slo_breaks_or_at_the_ceiling(monkeypatch, tmp_path):
    settings = Day7Settings(sweep_concurrency=[1], extend_to_knee=True, max_concurrency=8, slo_ttft_ms=2000,
                            min_requests_per_level=4)  # fmt: skip
    monkeypatch.setattr(day7, "run_level", lambda endpoint, s, c, *rest: FakeLevel(c, 100 * c, ttft_p99_ms=600 * c))
    levels = day7.sweep(Endpoint("http://x", "m"), settings, [], tmp_path, 0)
    assert [lv.concurrency for lv in levels] == [1, 2, 4]
    assert day7.sweep_end(settings, levels) == "SLO broken at c=4: TTFT 2,400 ms > 2,000 ms"
    monkeypatch.setattr(day7, "run_level", lambda endpoint, s, c, *rest: FakeLevel(c, 100 * c))
    levels = day7.sweep(Endpoint("http://x", "m"), settings, [], tmp_path, 0)
    assert day7.sweep_end(settings, levels) == "the ceiling max_concurrency=8 reached at c=8, no knee before it"
    assert sweep.pool_size(settings) == sum(sweep.requests_per_level(settings, c) for c in (1, 2, 4, 8)) + 1000


def test_the_rate_search_takes_its_own_slo_and_starts_below_the_sweeps_best_rate():
    from playbook.core.errors import ProfileError
    from playbook.core.profiles import load_profile
    from playbook.days import day7
    from playbook.load.sweep import pool_size

    settings = load_profile("cpu-smollm2").days.day7
    search = day7.rate_settings(settings, start_rate=3.0, seed=0)
    assert (search.slo_ttft_ms, search.slo_tpot_ms, search.start_rate) == (2000, 500, 3.0)
    assert pool_size(settings) >= settings.rate_max_steps * settings.rate_max_requests  # prompts of its own
    with pytest.raises(ProfileError, match="rate_sweep needs an SLO"):
        load_profile("cpu-smollm2", ["days.day7.slo_ttft_ms=null", "days.day7.slo_tpot_ms=null",
                                     "days.day7.rate_slo_ttft_ms=null"])  # fmt: skip
