"""Work sized to the machine: counts shrink to a day's budget on Day 1's measured speed, never below a minimum."""

from __future__ import annotations

import json

import pytest

from playbook.core.errors import PlaybookError
from playbook.core.profiles import load_profile
from playbook.days import worksize
from playbook.reports.results import step_problem
from playbook.run.notebook import start_day
from playbook.sizing.work import Count, MachineSpeed, load_speed, plan_work, share_margin


def speed(tpot_ms: float = 20.0, gain: float = 2.5, start_s: float = 20.0) -> MachineSpeed:
    return MachineSpeed(
        engine="vllm",
        ttft_ms=2 * tpot_ms,
        tpot_ms=tpot_ms,
        prompt_tokens=40,
        burst_concurrency=8,
        burst_output_tok_s=gain * 1000 / tpot_ms,
        start_s=start_s,
        measured_by="Day 1 of run-0001",
    )


def test_concurrency_pays_only_up_to_the_burst_gain():
    s = speed(tpot_ms=20, gain=2.5)
    one = s.requests_s(10, 33)
    assert one == pytest.approx(10 * (0.04 + 32 * 0.02))
    assert s.requests_s(10, 33, concurrency=2) == pytest.approx(one / 2)
    assert s.requests_s(10, 33, concurrency=64) == pytest.approx(one / 2.5)  # past the gain a CPU only queues
    assert s.request_s(1, input_tokens=400) == pytest.approx(0.4)  # prefill scales from the measured prompt


def test_a_fitting_day_is_not_scaled_and_a_slow_one_never_drops_below_its_minimums():
    counts = [Count("a", 40, 8, "why a"), Count("b", 10, 4, "why b")]

    def estimate(n):
        return n["a"] * 1.0 + n["b"] * 2.0

    fits = plan_work(3, 100, counts, estimate)
    assert not fits.scaled and fits.overrides() == {} and fits.estimate_s == 60
    half = plan_work(3, 30, counts, estimate)
    assert half.scaled and half.estimate_s <= 30
    assert half.overrides() == {"days.day3.a": 20, "days.day3.b": 5}  # one scale for both: the proportions hold
    floor = plan_work(3, 5, counts, estimate)
    assert floor.over_budget and floor.overrides() == {"days.day3.a": 8, "days.day3.b": 4}
    assert "the minimums alone do not fit" in floor.summary()


@pytest.mark.parametrize("day", [2, 3, 4, 7])
def test_the_cpu_profile_sizes_each_budgeted_day_within_its_minimums(day):
    profile = load_profile("cpu-smollm2")
    fast = worksize.size_day(profile, day, speed(tpot_ms=5, gain=4))
    slow = worksize.size_day(profile, day, speed(tpot_ms=70, gain=1.5, start_s=70))
    assert fast is not None and slow is not None
    assert not fast.over_budget and slow.scaled
    for count in slow.counts:
        assert count.minimum <= count.used <= count.wanted, count
        assert count.why_minimum
    assert slow.full_estimate_s > fast.full_estimate_s
    assert step_problem(day, "work_sizing", json.loads(json.dumps(slow.to_dict()))) is None


def test_confidence_is_stated_for_shares():
    plan = worksize.size_day(load_profile("cpu-smollm2"), 3, speed(tpot_ms=70, gain=1.5))
    tasks = next(c for c in plan.counts if c.key == "tasks_per_kind")
    assert tasks.used == 2 and tasks.confidence == f"valid rate and accuracy ± {share_margin(10):.0%} (95 %, 10 trials)"
    assert share_margin(40) == pytest.approx(0.155, abs=0.001)


def test_a_day_without_a_budget_is_not_sized():
    assert worksize.size_day(load_profile("h100-smollm2"), 2, speed()) is None
    assert worksize.size_day(load_profile("cpu-smollm2"), 5, speed()) is None


def test_start_day_applies_the_sized_counts_and_keeps_a_pinned_one(tmp_path, capsys):
    speed(tpot_ms=70, gain=1.5).save(tmp_path)
    ctx = start_day(3, "cpu-smollm2", ["days.day3.prefix_requests=20"], str(tmp_path / "day03"))
    s = ctx.profile.days.day3
    assert s.tasks_per_kind == 2 and s.prefix_requests == 20  # sized; pinned by the override
    sizing = ctx.recorder.data["steps"]["work_sizing"]
    assert sizing["scaled"] and {c["key"]: c["used"] for c in sizing["counts"]}["prefix_requests"] == 20
    assert "why the minimum" in capsys.readouterr().out


def test_start_day_without_a_speed_runs_the_profile_and_says_why(tmp_path):
    ctx = start_day(7, "cpu-smollm2", [], str(tmp_path / "day07"))
    assert ctx.profile.days.day7.waves_per_level == load_profile("cpu-smollm2").days.day7.waves_per_level
    assert "no machine speed from Day 1" in ctx.recorder.data["skipped"]["work_sizing"]


def test_a_broken_speed_file_names_the_file_and_the_fix(tmp_path):
    (tmp_path / "machine-speed.json").write_text('{"engine": "vllm"}')
    with pytest.raises(PlaybookError, match=r"machine-speed\.json is not a machine speed .*run Day 1 again"):
        load_speed(tmp_path)
    assert load_speed(tmp_path / "nowhere") is None


def test_day2_lossless_prompts_stay_an_even_share_of_its_workloads():
    from playbook.days import day2
    from playbook.load.datasets import SampleRequest

    plan = worksize.size_day(load_profile("cpu-smollm2"), 2, speed(tpot_ms=70, gain=1.5))
    lossless = next(c for c in plan.counts if c.key == "lossless_prompts")
    assert lossless.used == 4 and lossless.minimum == 4  # two workloads, two prompts each at the least
    settings = load_profile("cpu-smollm2", ["days.day2.lossless_prompts=4"]).days.day2
    workloads = {w: [SampleRequest([{"role": "user", "content": f"{w} {i}"}], 8, 0) for i in range(6)]
                 for w in ("code-edit", "chat")}  # fmt: skip
    assert day2.lossless_prompts(settings, workloads) == ["code-edit 0", "code-edit 1", "chat 0", "chat 1"]


def test_the_report_box_says_what_was_sized_and_the_confidence_left():
    from playbook.reports.results import parse_day_result
    from playbook.reports.summary import summarize_day, summary_box
    from tests.support.results import day_metrics

    plan = worksize.size_day(load_profile("cpu-smollm2"), 3, speed(tpot_ms=70, gain=1.5))
    summary = summarize_day(parse_day_result(day_metrics(3, {"work_sizing": json.loads(json.dumps(plan.to_dict()))})))
    assert summary.sizing[0] == plan.summary()
    assert any(line.startswith("tasks_per_kind: 2 of the profile's 4 (floor 2:") and "± 31%" in line
               for line in summary.sizing)  # fmt: skip
    assert "Sized to this machine" in summary_box(summary)
