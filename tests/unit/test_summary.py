"""The summary box at the top of each report: verdict, headline numbers with units, a sentence, what was not
run, computed from the day's typed result (here the committed GPU references and small hand-made results)."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_markdown_cell, new_notebook

from playbook.core.profiles import REPO_ROOT
from playbook.reports.notebook_html import render_report
from playbook.reports.results import load_day_result, parse_day_result
from playbook.reports.summary import summarize_day, summary_box
from tests.support.results import day_metrics, summary

H200 = REPO_ROOT / "reference" / "h200-2026-11-26"


def test_day7_of_the_h200_reference_leads_with_the_1000_concurrent_result():
    box = summarize_day(load_day_result(H200 / "qwen2.5-7b-dummy" / "day07" / "metrics.json"))
    values = {h.label: h.value for h in box.headlines}
    assert box.verdict == "ok" and values["1000 concurrent requests"] == "1000/1000 ok"
    assert values["TTFT P99 at the peak"] == "5,955 ms" and values["output tokens/s at the peak"] == "11,516 tok/s"
    assert values["sweep at c = 256 (one wave)"] == "12,766 tok/s"  # sized before the steady-state sweep


def test_a_steady_state_sweep_says_so():
    box = summarize_day(
        load_day_result(REPO_ROOT / "reference" / "h200-2026-11-30b" / "sglang" / "day07" / "metrics.json")
    )
    values = {h.label: h.value for h in box.headlines}
    assert values["sweep at c = 256 (4 waves, steady state)"] == "7,813 tok/s"


def test_every_committed_day_gets_a_box_with_its_verdict():
    for path in sorted(REPO_ROOT.glob("reference/**/day0*/metrics.json")):
        result = load_day_result(path)
        box = summarize_day(result)
        # a run cut off mid-day (reference/h200-2026-12-03/vllm-partial) stays "running": its box says so
        shown = "did not finish" if result.status == "running" else result.status
        assert box.verdict == result.status and f"<strong>{shown}" in summary_box(box)
        # Day 5's result is manifests and checks, no numbers; a failed day may have stopped before any
        assert box.headlines or result.day == 5 or (result.status == "failed" and box.problems), path
    died = summarize_day(parse_day_result(day_metrics(7, {}, status="running")))
    assert "<strong>did not finish (the notebook stopped before its last cell" in summary_box(died)


def test_failures_and_skipped_steps_are_in_the_box_and_text_is_escaped():
    data = {**day_metrics(7, {"peak": {"status": "partial", "summary": summary(36.0)}}, status="partial"),
            "partial": ["level c=8: server gone <EOF>"], "skipped": {"roofline": "attached endpoint"}}  # fmt: skip
    html = summary_box(summarize_day(parse_day_result(data)))
    assert "<strong>partial</strong>" in html and "roofline: attached endpoint" in html
    assert "server gone &lt;EOF&gt;" in html and "<EOF>" not in html


def test_the_box_is_the_first_thing_in_the_report(tmp_path):
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Day 7 narrative")]), str(tmp_path / "n.ipynb"))
    box = summary_box(
        summarize_day(parse_day_result(day_metrics(7, {"peak": {"status": "ok", "summary": summary(36.0)}})))
    )
    page = render_report(tmp_path / "n.ipynb", tmp_path / "r.html", "Day 7", box).read_text()
    assert page.index("playbook-summary") < page.index("Day 7 narrative")


def test_checks_sit_in_one_collapsed_section_not_between_paragraphs(tmp_path, capsys):
    from playbook.days.context import DayContext
    from playbook.reports.recorder import DayRecorder

    recorder = DayRecorder(tmp_path, 5, "cpu-smollm2")
    ctx = DayContext(None, recorder, tmp_path, [])  # type: ignore[arg-type]  # check needs no profile
    ctx.check(True, "health answers 200")
    ctx.check(False, "readiness <probe> answers 503")
    assert capsys.readouterr().out == "FAIL: readiness <probe> answers 503\n"  # no PASS line in the narrative
    recorder.finish("failed")
    box = summary_box(summarize_day(load_day_result(tmp_path / "metrics.json")))
    assert '<details class="checks" open><summary>Checks: 1 passed, 1 failed</summary>' in box
    assert "PASS: health answers 200" in box and "FAIL: readiness &lt;probe&gt; answers 503" in box


def test_a_constrained_valid_rate_below_100_percent_is_explained_in_the_box():
    """The H100 Day 3 box said "valid JSON, constrained 40 %" with no why: every constrained answer that finished
    was valid (the day's check), so the rest hit max_tokens, and the box says so."""
    rows = [{"engine": "vllm", "workload": "structured", "constrained": c, "concurrency": 1, "valid_rate": v}
            for c, v in ((True, 0.4), (False, 0.0))]  # fmt: skip
    box = summarize_day(parse_day_result(day_metrics(3, {"comparison": rows})))
    assert "only where generation hit max_tokens" in box.conclusion and "(40%)" in box.conclusion
