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
