"""The selection report's logic: each branch of the decision tree, the cost arithmetic, the sizing table
against hand-computed cases, and what happens when evidence is missing."""

import json
import shutil
from pathlib import Path

import pytest

from playbook.core.errors import PlaybookError
from playbook.core.profiles import REPO_ROOT, load_profile
from playbook.days import selection
from playbook.days.selection import Evidence, Workload, decide
from playbook.reports.results import SweepRow, parse_day_result
from playbook.sizing.architecture import ModelShape, load_shape
from tests.support.results import day_metrics, run_manifest

GIB = 2**30


def test_each_branch_of_the_decision_tree():
    empty = Evidence()
    assert decide(Workload(gpu_vendor="amd"), empty).engine == "sglang"
    assert decide(Workload(gpu_vendor="amd"), empty).runner_up == "vllm"
    assert decide(Workload(daily_output_tokens=200_000_000, infra_engineers=3), empty).engine == "trtllm"
    assert decide(Workload(daily_output_tokens=200_000_000, infra_engineers=1), empty).engine == "vllm"
    assert decide(Workload(structured_share=0.3), empty).engine == "sglang"
    assert decide(Workload(shared_prefix_share=0.5), empty).engine == "sglang"
    general = decide(Workload(), empty)
    assert general.engine == "vllm" and general.missing == ("no day of this profile has run yet",)


def test_decisions_cite_measurements_and_name_the_gaps():
    rows = [
        {"engine": "vllm", "workload": "structured", "constrained": True, "valid_rate": 0.95, "tpot_p50_ms": 45.0},
        {"engine": "vllm", "workload": "structured", "constrained": False, "valid_rate": 0.2, "tpot_p50_ms": 44.9},
        {"engine": "vllm", "workload": "shared-prefix", "prefix_caching": True, "hit_rate": 0.84},
    ]
    evidence = Evidence({3: parse_day_result(day_metrics(3, {"comparison": rows}))})
    decision = decide(Workload(structured_share=0.6), evidence)
    assert any("valid 95% vs 20% prompt-only" in e for e in decision.evidence)
    assert any("hit rate on a shared-prefix workload: 84%" in e for e in decision.evidence)
    assert any("SGLang vs vLLM" in m for m in decision.missing)
    table = {r["dimension"]: r for r in selection.evidence_table(evidence)}
    assert table["Constrained output valid rate (Day 3)"]["vllm (measured)"] == "95 %"
    assert (
        table["Multi-LoRA: mixed-adapter / base-only throughput (Day 6)"]["vllm (measured)"] == selection.NOT_MEASURED
    )
    assert all(r["trtllm (measured)"] == selection.NOT_MEASURED for r in table.values())


def test_cost_and_capacity_arithmetic():
    # 1000 tok/s for one hour = 3.6 M tokens for $2.50 -> $0.694 per million
    assert selection.cost_per_million_tokens(1000, 2.5) == pytest.approx(2.5 / 3.6)
    assert selection.cost_per_million_tokens(1000, 2.5, gpus=2) == pytest.approx(5 / 3.6)
    assert selection.gpus_for_volume(86_400_000, 1000) == 1  # exactly one replica's day
    assert selection.gpus_for_volume(86_400_001, 1000, gpus_per_replica=2) == 4
    assert selection.gpus_for_volume(0, 1000) == 0


def test_slo_picks_the_fastest_level_that_meets_it():
    levels = [SweepRow(concurrency=c, status="ok", output_tok_s=t, ttft_p99_ms=ttft, tpot_p50_ms=tpot)
              for c, t, ttft, tpot in [(1, 20, 200, 44), (8, 100, 900, 60), (64, 300, 5000, 150)]]  # fmt: skip
    assert selection.best_level_within_slo(levels, None, None).concurrency == 64
    assert selection.best_level_within_slo(levels, 1000, 100).concurrency == 8
    assert selection.best_level_within_slo(levels, 100, None) is None


def test_sizing_matches_a_hand_computed_case():
    row = selection.sizing_row("H100 80GB", "7B", "BF16", 8192)
    shape = ModelShape.from_config(load_shape("qwen2.5-7b"))
    weights = shape.parameter_count * 2
    per_token = 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * 2
    budget = 79.2 * 0.9 * GIB - weights - 2 * GIB
    assert row["gpus_needed"] == 1 and row["kv_tokens"] == int(budget // per_token)
    assert row["concurrent_full_context"] == row["kv_tokens"] // 8192


def test_seventy_b_in_bf16_fits_no_single_40_or_80_gb_card():
    for gpu in ("A100 40GB", "H100 80GB"):
        row = selection.sizing_row(gpu, "70B", "BF16", 8192)
        assert row["weights_gb"] > 140 and row["gpus_needed"] != 1
    assert selection.sizing_row("H100 80GB", "70B", "BF16", 8192)["gpus_needed"] == 2
    assert selection.sizing_row("H100 80GB", "70B", "4-bit (AWQ/GPTQ)", 8192)["gpus_needed"] == 1


def test_evidence_comes_from_the_run_folder_or_the_newest_run_of_the_profile(tmp_path):
    def make_run(run_id: str, profile: str, days: list[int]) -> None:
        run = tmp_path / "2026-11-25" / run_id
        for day in days:
            (run / f"day{day:02d}").mkdir(parents=True)
            (run / f"day{day:02d}" / "metrics.json").write_text(json.dumps(day_metrics(day, {}, profile)))
        run.mkdir(parents=True, exist_ok=True)
        (run / "manifest.json").write_text(json.dumps(run_manifest(run_id, profile)))

    make_run("run-0001", "cpu-smollm2", [1, 7])
    make_run("run-0002", "h100-qwen2.5-7b", [1])
    make_run("run-0003", "cpu-smollm2", [])
    inside = tmp_path / "2026-11-25" / "run-0001" / "day08"
    assert selection.evidence_run(inside, "cpu-smollm2") == inside.parent
    elsewhere = tmp_path / "interactive" / "20261125-120000" / "day08"
    found = selection.evidence_run(elsewhere, "cpu-smollm2")
    assert found == tmp_path / "2026-11-25" / "run-0001"  # the newest run of the profile that has days
    assert sorted(selection.gather_evidence(found).days) == [1, 7]
    assert selection.evidence_run(elsewhere, "a100-40g") is None


def test_the_committed_h200_reference_fills_its_rows_with_measured_values():
    reference = selection.load_gpu_reference(REPO_ROOT / "reference" / "h200-2026-11-26")
    assert reference is not None and reference.gpu == "H200"
    assert sorted(reference.speed.days) == [1, 7] and sorted(reference.real.days) == [1, 2, 4, 5, 6]
    rows = {r["dimension"]: r for r in selection.evidence_table(selection.Evidence(), gpu_week=reference)}
    gpu_rows = {d: r["vllm (measured)"] for d, r in rows.items() if d.startswith("H200 reference")}
    assert len(gpu_rows) == 8 and selection.NOT_MEASURED not in gpu_rows.values()
    assert gpu_rows["H200 reference (7B dummy): pre-flight KV capacity vs vLLM's report (Day 1)"] == "+1.0 %"
    assert gpu_rows["H200 reference (7B dummy): TTFT P50 / P95 / P99 at 1000 concurrent (Day 7)"] == (
        "2,874 / 5,796 / 5,955 ms"
    )
    assert all(r["sglang (measured)"] == selection.NOT_MEASURED for d, r in rows.items() if d in gpu_rows)


def test_a_missing_gpu_reference_adds_no_rows(tmp_path):
    assert selection.load_gpu_reference(tmp_path / "absent") is None
    assert not [r for r in selection.evidence_table(selection.Evidence()) if "H200" in r["dimension"]]


def test_days_run_by_hand_on_one_date_are_the_selection_reports_evidence(tmp_path):
    from datetime import date

    from playbook.reports.layout import interactive_day_dir

    today = date(2026, 11, 30)
    day7 = interactive_day_dir(7, tmp_path, today)
    day7.mkdir(parents=True)
    (day7 / "metrics.json").write_text(json.dumps(day_metrics(7, {})))
    again = interactive_day_dir(7, tmp_path, today)  # Day 7 run by hand a second time
    assert again == day7 and not day7.exists() and list(tmp_path.glob("interactive/2026-11-30/day07-earlier-*"))
    again.mkdir()
    (again / "metrics.json").write_text(json.dumps(day_metrics(7, {"knee_concurrency": 8})))
    selection_dir = interactive_day_dir(8, tmp_path, today)
    selection_dir.mkdir()
    found = selection.evidence_run(selection_dir, "cpu-smollm2")
    assert found == tmp_path / "interactive" / "2026-11-30"
    assert selection.gather_evidence(found).day7.steps.knee_concurrency == 8  # the latest, not the moved one


BOTH = Path(__file__).resolve().parents[2] / "reference" / "h200-2026-11-30b"


def test_a_run_of_another_engine_fills_its_column_and_gets_its_own_cost():
    vllm, sglang = selection.gather_evidence(BOTH / "vllm"), selection.gather_evidence(BOTH / "sglang")
    assert (vllm.engine, sglang.engine) == ("vllm", "sglang")
    table = {row["dimension"]: row for row in selection.evidence_table(vllm, others=[sglang])}
    top = table["Output tok/s at the top sweep level, steady state (Day 7)"]
    assert top["vllm (measured)"] == "9,398 tok/s at c=256"
    assert top["sglang (measured)"] == "7,813 tok/s at c=256"
    assert table["KV pre-flight vs the engine's own count (Day 1)"]["sglang (measured)"] == "-1.3 %"
    workload = selection.Workload()
    costs = selection.cost_rows(selection.engine_columns(vllm, [sglang]), workload, 2.5, 1)
    assert [c["engine"] for c in costs] == ["vllm", "sglang"]
    assert costs[1]["usd_per_million_output_tokens"] > costs[0]["usd_per_million_output_tokens"]


def test_two_runs_of_one_engine_are_refused():
    vllm = selection.gather_evidence(BOTH / "vllm")
    with pytest.raises(PlaybookError, match="another vllm run"):
        selection.engine_columns(vllm, [vllm])


def test_the_selection_sizes_weights_as_day4s_fit_table_does():
    """One sizing model: the 4-bit 7B's weights in the selection's table are Day 4's (group scales, 16-bit
    embeddings and head), not parameters x 4 / 8 (3.55 GiB, which undercounts by a third)."""
    from playbook.days.day4 import fit_table

    card = load_profile("rtx4090-24g-awq")
    day4 = fit_table(card.hardware, card.engine_spec, ["qwen2.5-7b"], 4, 128)
    four_bit = day4[day4.weights.str.startswith("W4")].iloc[0]
    row = selection.sizing_row("RTX 4090 24GB", "7B", "4-bit (AWQ/GPTQ)", 8192)
    assert row["weights_gib"] == pytest.approx(four_bit.weights_GiB, rel=1e-6) and row["weights_gib"] > 5


def _day7_evidence(rate_search: dict | None) -> selection.Evidence:
    sweep = [{"concurrency": c, "status": "ok", "output_tok_s": tok, "ttft_p99_ms": ttft, "tpot_p50_ms": 20.0}
             for c, tok, ttft in ((1, 50.0, 300.0), (4, 150.0, 900.0), (16, 260.0, 5000.0))]  # fmt: skip
    steps = {"sweep": sweep, **({"rate_search": rate_search} if rate_search else {})}
    return selection.Evidence({7: parse_day_result(day_metrics(7, steps))}, "run", "vllm")


RATE_SEARCH = {
    "steps": [{"offered_rps": r, "achieved_rps": r, "goodput": g, "sustained": g >= 0.9, "output_tok_s": tok}
              for r, g, tok in ((1.0, 1.0, 100.0), (2.0, 0.95, 190.0), (4.0, 0.4, 210.0), (3.0, 0.7, 200.0))],
    "max_sustained_rps": 2.0, "first_failed_rps": 3.0, "ended": "max_steps (4) ran",
    "slo_ttft_ms": 2000.0, "slo_tpot_ms": None, "goodput_min": 0.9,
}  # fmt: skip


def test_the_cost_uses_the_rate_searchs_sustained_rate_where_it_ran():
    workload = selection.Workload(ttft_slo_ms=1000.0)
    (row,) = selection.cost_rows({"vllm": _day7_evidence(RATE_SEARCH)}, workload, 2.5, 1)
    assert row["basis"] == "rate search: 2 req/s sustained (90% of requests within TTFT ≤ 2000 ms)"
    assert row["sustained_rps"] == 2.0 and row["output_tok_s"] == 190.0 and "concurrency" not in row
    (swept,) = selection.cost_rows({"vllm": _day7_evidence(None)}, workload, 2.5, 1)  # no search: the sweep
    assert swept["basis"] == "concurrency sweep: c=4 (P99 TTFT and P50 TPOT within the SLOs)"
    assert swept["concurrency"] == 4 and swept["output_tok_s"] == 150.0


def test_a_search_where_no_rate_held_falls_back_to_the_sweep():
    nothing_held = {**RATE_SEARCH, "max_sustained_rps": None,
                    "steps": [{**s, "sustained": False} for s in RATE_SEARCH["steps"]]}  # fmt: skip
    (row,) = selection.cost_rows({"vllm": _day7_evidence(nothing_held)}, selection.Workload(), 2.5, 1)
    assert row["basis"].startswith("concurrency sweep: c=16")


def test_multi_turn_sessions_fill_their_row_per_engine():
    turns = [{"engine": "vllm", "turn": k, "ttft_p50_ms": ttft, "hit_rate": hit}
             for k, ttft, hit in ((1, 120.0, 0.2), (2, 130.0, 0.7), (3, 125.0, 0.8))]  # fmt: skip
    evidence = Evidence({3: parse_day_result(day_metrics(3, {"sessions": turns}))}, "run", "vllm")
    table = {row["dimension"]: row for row in selection.evidence_table(evidence)}
    row = table["Multi-turn chats: TTFT p50 from turn 1 to the last, hit rate after turn 1 (Day 3)"]
    assert row["vllm (measured)"] == "120 → 125 ms over 3 turns, hit rate 70%-80%"
    assert row["sglang (measured)"] == selection.NOT_MEASURED


WEEK = Path(__file__).resolve().parents[2] / "reference" / "h200-week-499cf7d"


def test_each_engine_column_comes_from_its_own_run_or_the_run_that_measured_it_beside():
    """The GPU week of one commit: SGLang's Days 3 and 6 were measured inside vLLM's runs; its Day 2 came from a later
    commit, with the reason in sources.json."""
    vllm, sglang = selection.gather_evidence(WEEK / "vllm"), selection.gather_evidence(WEEK / "sglang")
    table = {row["dimension"]: row for row in selection.evidence_table(vllm, others=[sglang])}

    def cells(dimension):
        return table[dimension]["vllm (measured)"], table[dimension]["sglang (measured)"]

    assert cells("Constrained output valid rate (Day 3)") == ("90 %", "92 %")  # SGLang's from vLLM's Day 3
    assert cells("Multi-LoRA: mixed-adapter / base-only throughput (Day 6)") == ("0.89 x", "0.98 x")
    assert cells("Speculative decoding, best speedup at c=1 (Day 2)") == ("0.84 x", "0.88 x")
    assert cells("Multi-turn chats: TTFT p50 from turn 1 to the last, hit rate after turn 1 (Day 3)") == (
        "Day 3 ran without this step", "Day 3 ran without this step")  # fmt: skip
    vllm_day4, sglang_day4 = cells("4-bit quality gate, vs the original (Day 4)")
    assert vllm_day4 == selection.NOT_MEASURED  # not run from this commit
    assert sglang_day4.startswith("could not run: SGLang 0.5.14 loads Day 4's W4A16 checkpoint")  # not_run.json
    assert sglang_day4.endswith("(reference/h100-2026-12-05b/w4a16-probe)")
    assert table["Output tok/s at 1000 concurrent (Day 7)"]["sglang (measured)"] == "5,134 tok/s"
    alone = {row["dimension"]: row for row in selection.evidence_table(vllm)}
    # without SGLang's own run, vLLM's Day 2 is not SGLang's; its Day 3 still holds SGLang's rows
    assert alone["Speculative decoding, best speedup at c=1 (Day 2)"]["sglang (measured)"] == selection.NOT_MEASURED
    assert alone["Constrained output valid rate (Day 3)"]["sglang (measured)"] == "92 %"


def test_a_failed_day_still_shows_its_measured_figure_and_says_it_failed(tmp_path):
    """SGLang's Day 2 of 2026-12-04 failed its lossless check but measured its speedups: the cell keeps both."""
    failed = Path(__file__).resolve().parents[2] / "reference" / "h200-2026-12-04c" / "sglang-day2-failed"
    run = tmp_path / "sglang"
    shutil.copytree(failed, run)
    vllm, sglang = selection.gather_evidence(WEEK / "vllm"), selection.gather_evidence(run)
    table = {row["dimension"]: row for row in selection.evidence_table(vllm, others=[sglang])}
    assert table["Speculative decoding, best speedup at c=1 (Day 2)"]["sglang (measured)"] == "0.61 x (the day failed)"


def test_a_day_an_engine_could_not_run_says_why_in_its_own_column_only(tmp_path):
    (tmp_path / "not_run.json").write_text(json.dumps({"4": {"why": "no kernel for it", "evidence": "reference/x"}}))
    shutil.copyfile(WEEK / "sglang" / "manifest.json", tmp_path / "manifest.json")
    sglang = selection.gather_evidence(tmp_path)
    assert sglang.engine == "sglang" and sglang.not_run == {4: "could not run: no kernel for it (reference/x)"}
    vllm = Evidence({}, "run", "vllm")
    table = {row["dimension"]: row for row in selection.evidence_table(vllm, others=[sglang])}
    day4 = table["4-bit quality gate, vs the original (Day 4)"]
    assert day4["sglang (measured)"] == "could not run: no kernel for it (reference/x)"
    assert day4["vllm (measured)"] == selection.NOT_MEASURED
    assert table["Multi-LoRA: mixed-adapter / base-only throughput (Day 6)"]["sglang (measured)"] == (
        selection.NOT_MEASURED)  # fmt: skip
