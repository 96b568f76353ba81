"""The measured verdict (issue #33): capacities within the SLOs and the cost at your volume decide; a difference
inside the spread is a tie; a class without a measurement names the run that would measure it."""

from __future__ import annotations

import pytest

from playbook.days import selection
from playbook.days.verdict import decide_measured, volume_cost
from playbook.load.rounds import level_rows
from playbook.reports.results import parse_day_result
from tests.support.results import day_metrics


def engine(name: str, rounds: list[float], tpot_ms: float = 20.0, structured: tuple[float, float] | None = None):
    """An engine's evidence: Day 7 at c=256 over its rounds, and optionally Day 3's TPOT prompt-only/constrained."""
    rows = level_rows([{"concurrency": 256, "round": i, "status": "ok", "output_tok_s": v, "tpot_p50_ms": tpot_ms,
                        "ttft_p99_ms": 900.0} for i, v in enumerate(rounds, 1)])  # fmt: skip
    days = {7: parse_day_result(day_metrics(7, {"sweep": rows}))}
    if structured:
        comparison = [{"engine": name, "workload": "structured", "constrained": c, "concurrency": 32, "tpot_p50_ms": t,
                       "valid_rate": 1.0}
                      for c, t in ((False, structured[0]), (True, structured[1]))]  # fmt: skip
        days[3] = parse_day_result(day_metrics(3, {"comparison": comparison}))
    return selection.Evidence(days, name, name)


CHAT = selection.Workload(structured_share=0.0, shared_prefix_share=0.0)


def test_a_30_percent_faster_sglang_flips_the_articles_verdict():
    columns = {"vllm": engine("vllm", [1000, 980, 1020]), "sglang": engine("sglang", [1300, 1290, 1320])}
    verdict = decide_measured(CHAT, columns, 3.5)
    assert verdict.engine == "sglang" and not verdict.tie
    assert verdict.article_engine == "vllm" and "your measurements say sglang" in verdict.agreement
    assert "sglang has more headroom" in verdict.reason and "outside the spread" in verdict.reason


def test_a_3_percent_difference_inside_a_10_percent_spread_is_a_tie_for_the_simpler_engine():
    columns = {"sglang": engine("sglang", [1030, 980, 1080]), "vllm": engine("vllm", [1000, 950, 1050])}
    verdict = decide_measured(CHAT, columns, 3.5)
    assert verdict.tie and verdict.engine == "vllm"
    assert "a tie" in verdict.reason and "no measurable difference" in verdict.reason and "simpler" in verdict.reason


def test_fewer_devices_at_your_volume_wins():
    big = CHAT.model_copy(update={"daily_output_tokens": 2_000_000_000})  # 23 k tok/s average, 58 k at peak
    columns = {"vllm": engine("vllm", [9000, 9100, 9200]), "sglang": engine("sglang", [12000, 12100, 12200])}
    verdict = decide_measured(big, columns, 3.5)
    assert verdict.engine == "sglang" and verdict.costs["sglang"].devices < verdict.costs["vllm"].devices
    assert "needs" in verdict.reason


def test_a_class_without_a_measurement_names_the_run_that_would_measure_it():
    workload = selection.Workload(structured_share=0.4, shared_prefix_share=0.0)
    columns = {"vllm": engine("vllm", [1000, 990, 1010], structured=(20.0, 25.0)), "sglang": engine("sglang", [1000])}
    verdict = decide_measured(workload, columns, 3.5)
    assert "structured output (40% of requests): run Day 3 with engine=sglang" in verdict.missing
    vllm = next(c for c in verdict.capacities if c.engine == "vllm")
    assert vllm.structured_ratio == pytest.approx(0.8) and vllm.mix_tok_s == pytest.approx(1 / (0.6 / 1000 + 0.4 / 800))


def test_nothing_measured_gives_no_engine_and_says_what_to_run():
    verdict = decide_measured(CHAT, {"vllm": selection.Evidence()}, 3.5)
    assert verdict.engine is None and "run Day 7" in verdict.reason and "nothing measured" in verdict.agreement


def test_ten_million_tokens_a_day_on_one_h200_is_one_device_at_low_utilization():
    cost = volume_cost(10_000_000, 2.5, 9398.0, 3.5)
    assert (cost.replicas, cost.devices) == (1, 1)
    assert cost.utilization == pytest.approx(10_000_000 / 86_400 / 9398.0)  # about 1.2 %
    assert cost.usd_per_day == pytest.approx(84.0) and cost.usd_per_million_at_volume == pytest.approx(8.4)
    assert cost.usd_per_million_at_full_load == pytest.approx(3.5 / (9398 * 3600) * 1e6)


def test_the_verdicts_deployment_carries_replicas_and_a_target_from_the_measured_capacity():
    """2 G output tokens a day (23.1 k tok/s average, 57.9 k at a 2.5x peak) on an engine that serves 12.1 k tok/s
    at c=256 within the SLOs: 2 replicas for the average, 5 for the peak, 256 in flight a replica; the KServe
    manifest carries them, with an HPA of its own on the engine's running-requests series (KServe's RawDeployment
    HPA scales on cpu or memory only), and validates offline."""
    from playbook.core.profiles import load_profile
    from playbook.days.verdict import deployment_for, scaling_for

    big = CHAT.model_copy(update={"daily_output_tokens": 2_000_000_000})
    columns = {"vllm": engine("vllm", [9000, 9100, 9200]), "sglang": engine("sglang", [12000, 12100, 12200])}
    verdict = decide_measured(big, columns, 3.5)
    scaling = scaling_for(verdict, big)
    assert (scaling.engine, scaling.min_replicas, scaling.max_replicas, scaling.target_concurrency) == (
        "sglang", 2, 5, 256)  # fmt: skip
    assert any("the peak hour (2.5x" in line for line in scaling.why)
    deployment = deployment_for(load_profile("h100-qwen2.5-7b"), verdict, big)
    assert deployment.problems == ()
    for line in ("minReplicas: 2", "maxReplicas: 5", "serving.kserve.io/autoscalerClass: external",
                 "kind: HorizontalPodAutoscaler", "name: sglang_num_running_reqs", "averageValue: '256'",
                 "name: h100-qwen2-5-7b-sglang-predictor", "sglang.launch_server"):  # fmt: skip
        assert line in deployment.manifest_yaml, line


def test_without_a_verdict_the_profiles_replicas_stand():
    from playbook.core.profiles import load_profile
    from playbook.days.verdict import deployment_for

    verdict = decide_measured(CHAT, {"vllm": selection.Evidence({}, "vllm", "vllm")}, 3.5)
    deployment = deployment_for(load_profile("cpu-smollm2"), verdict, CHAT)
    assert verdict.engine is None and deployment.scaling is None
    assert "minReplicas: 1" in deployment.manifest_yaml and "HorizontalPodAutoscaler" not in deployment.manifest_yaml


def _day3_beside(profile: str):
    """vLLM's Day 3 that served the same structured tasks on SGLang after it (a GPU profile's notebook)."""
    comparison = [{"engine": e, "workload": "structured", "constrained": c, "concurrency": 32, "tpot_p50_ms": t,
                   "valid_rate": 1.0}
                  for e, c, t in (("vllm", False, 20.0), ("vllm", True, 25.0),
                                  ("sglang", False, 20.0), ("sglang", True, 40.0))]  # fmt: skip
    return parse_day_result(day_metrics(3, {"comparison": comparison}, profile=profile))


def test_sglangs_structured_ratio_measured_beside_vllm_is_weighed():
    workload = selection.Workload(structured_share=0.4, shared_prefix_share=0.0)
    vllm, sglang = engine("vllm", [1000, 990, 1010]), engine("sglang", [1000, 995, 1005])
    vllm.days[3] = _day3_beside("cpu-smollm2")
    verdict = decide_measured(workload, {"vllm": vllm, "sglang": sglang}, 3.5)
    ratios = {c.engine: c.structured_ratio for c in verdict.capacities}
    assert ratios == {"vllm": pytest.approx(0.8), "sglang": pytest.approx(0.5)} and not verdict.missing


def test_a_structured_ratio_from_another_model_is_not_weighed_and_says_why():
    workload = selection.Workload(structured_share=0.4, shared_prefix_share=0.0)
    vllm = engine("vllm", [1000, 990, 1010])  # Day 7 on cpu-smollm2
    vllm.days[3] = _day3_beside("h100-smollm2")
    verdict = decide_measured(workload, {"vllm": vllm}, 3.5)
    (capacity,) = verdict.capacities
    assert capacity.structured_ratio is None and capacity.mix_tok_s == pytest.approx(1000)
    assert any("Day 3 measured vllm on h100-smollm2, its capacity is from cpu-smollm2" in m for m in verdict.missing)
