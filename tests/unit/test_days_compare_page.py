"""Days 3 and 6 with every engine in one chart (``reports.days_compare_page``), from committed runs."""

from __future__ import annotations

from playbook.core.profiles import REPO_ROOT
from playbook.reports.days_compare_page import day3_frame, day6_frame, render
from playbook.reports.legacy import leftovers
from playbook.reports.paths import machine_paths
from playbook.reports.results import load_day_result

H100_DAY3 = REPO_ROOT / "reference" / "h100-2026-11-25" / "day03" / "metrics.json"
H200_DAY6 = REPO_ROOT / "reference" / "h200-2026-11-30c" / "smollm2" / "day06" / "metrics.json"


def test_each_engine_gets_its_rows_from_the_one_run():
    day3 = day3_frame(load_day_result(H100_DAY3))
    assert set(day3.engine) == {"vllm", "sglang"} and set(day3.workload) >= {"structured", "shared-prefix"}
    day6 = day6_frame(load_day_result(H200_DAY6), "vllm")
    base = day6[day6.traffic == "base only"].set_index("engine").output_tok_s
    assert set(base.index) == {"vllm", "sglang"} and base["vllm"] > base["sglang"] > 1000


def test_the_page_overlays_the_engines_and_travels(tmp_path):
    page = render(H100_DAY3, H200_DAY6, tmp_path / "compare-days.html", "vllm").read_text()
    assert page.count("<img") == 2 and "Day 3: structured output" in page and "Day 6: the same adapters" in page
    assert machine_paths(page) == [] and leftovers(page) == []


def test_day2_speedups_come_from_the_rows_even_where_the_day_was_cut_off():
    """vLLM's Day 2 of 2026-12-03 stopped before its ``speedup`` step: its ratios come from the methods' rows, as
    that reference's README computed them by hand (ngram-k4, code edits: 0.98x at c=1)."""
    from playbook.reports.days_compare_page import day2_frame

    ref = REPO_ROOT / "reference" / "h200-2026-12-03"
    frame = day2_frame({engine: load_day_result(ref / folder / "day02" / "metrics.json")
                        for engine, folder in (("sglang", "sglang"), ("vllm", "vllm-partial"))})  # fmt: skip
    vllm = frame[(frame.engine == "vllm") & (frame.workload == "code-edit") & (frame.concurrency == 1)]
    assert round(float(vllm.speedup.iloc[0]), 2) == 0.98
    assert set(frame.method) == {"ngram-k4", "draft-first8-k3"} and set(frame.engine) == {"sglang", "vllm"}
