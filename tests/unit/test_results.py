"""Typed day results: every committed metrics.json is its day's model, each type round-trips through JSON,
and a file of another schema version, an undeclared step or a wrong value is refused in one line."""

from __future__ import annotations

import json
import re

import pytest

from playbook.core.profiles import REPO_ROOT
from playbook.reports.recorder import DayRecorder
from playbook.reports.results import (
    RESULT_TYPES,
    SCHEMA_VERSION,
    Day7Result,
    ResultSchemaError,
    load_day_result,
    parse_day_result,
)
from tests.support.results import day_metrics, summary

COMMITTED = sorted(REPO_ROOT.glob("reference/**/day0*/metrics.json"))
# One small document per day, for the days no committed reference has (Day 8 never runs on the GPU machine).
MINIMAL = {
    3: {"comparison": [{"engine": "sglang", "workload": "shared-prefix", "prefix_caching": True, "hit_rate": 0.5}]},
    7: {"sweep": [{"concurrency": 1, "status": "ok", "output_tok_s": 30.0}], "peak": {"status": "ok",
                                                                                      "summary": summary(36.0)}},
    8: {"decision": {"engine": "vllm"}, "cost": {"usd_per_million_output_tokens": 1.5}},
}  # fmt: skip


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(REPO_ROOT / "reference")))
def test_every_committed_reference_is_its_days_typed_result(path):
    result = load_day_result(path)
    assert type(result) is RESULT_TYPES[result.day]


@pytest.mark.parametrize("day", sorted(RESULT_TYPES))
def test_each_type_round_trips_through_json(day):
    committed = [p for p in COMMITTED if json.loads(p.read_text())["day"] == day]
    data = json.loads(committed[0].read_text()) if committed else day_metrics(day, MINIMAL.get(day, {}))
    result = parse_day_result(data)
    again = parse_day_result(json.loads(json.dumps(result.model_dump(mode="json"))))
    assert again == result and type(again) is RESULT_TYPES[day]


def test_typed_readers_answer_from_fields():
    day7 = parse_day_result(day_metrics(7, MINIMAL[7]))
    assert isinstance(day7, Day7Result)
    assert day7.steps.peak.summary.output_throughput_tok_s == 36.0 and day7.level(1).output_tok_s == 30.0
    day3 = parse_day_result(day_metrics(3, MINIMAL[3]))
    assert day3.prefix_hit_rate("sglang") == 0.5 and day3.prefix_hit_rate("vllm") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**day_metrics(7, {}), "schema_version": 0}, r"schema_version 0, but this playbook reads version 1"),
        (day_metrics(7, {"no_such_step": 1}), r"undeclared step\(s\) \['no_such_step'\]"),
        (day_metrics(7, {"sweep": [{"concurrency": "many", "status": "ok"}]}), r"steps\.sweep\.0\.concurrency"),
        (day_metrics(9, {}), r"day 9 is not a day of the week"),
        ({**day_metrics(2, {}), "status": "done"}, r"status: Input should be"),
    ],
)
def test_bad_files_are_refused_in_one_line(data, message):
    with pytest.raises(ResultSchemaError, match=message) as caught:
        parse_day_result(data, "day07/metrics.json")
    assert "\n" not in str(caught.value)


def test_dynamic_step_names_are_accepted_only_where_declared():
    day2 = parse_day_result(day_metrics(2, {"run_ngram-k4": {"method": "ngram"}, "lossless_ngram-k4": {}}))
    assert set(day2.steps.dynamic("run_")) == {"ngram-k4"}
    with pytest.raises(ResultSchemaError, match="undeclared"):
        parse_day_result(day_metrics(7, {"run_ngram-k4": {}}))


def test_the_recorder_writes_the_current_schema(tmp_path):
    recorder = DayRecorder(tmp_path, 7, "cpu-smollm2")
    recorder.record("knee_concurrency", 8)
    recorder.finish("ok")
    result = load_day_result(recorder.path)
    assert result.schema_version == SCHEMA_VERSION and result.steps.knee_concurrency == 8


def test_the_committed_multigpu_summary_is_typed_and_feeds_the_selection_table():
    from playbook.days import selection
    from playbook.reports.results import load_multigpu_summary

    summary = load_multigpu_summary(REPO_ROOT / "reference" / "h100x2-2026-11-25" / "multigpu.json")
    assert summary.variant("qwen7b-tp1").level(256).output_tok_s == pytest.approx(9085.6, abs=0.1)
    table = {r["dimension"]: r for r in selection.evidence_table(selection.Evidence(), reference=summary)}
    assert table["H100 reference: 7B dummy, tok/s at c=256 (committed)"]["vllm (measured)"] == "9,086 tok/s"


def test_a_file_that_is_no_multigpu_summary_is_one_line(tmp_path):
    from playbook.reports.results import load_multigpu_summary

    (tmp_path / "multigpu.json").write_text('{"variants": [{"status": "ok"}]}')
    with pytest.raises(ResultSchemaError, match="not a multi-GPU summary") as caught:
        load_multigpu_summary(tmp_path / "multigpu.json")
    assert "\n" not in str(caught.value)


def test_the_recorder_rejects_a_step_that_does_not_fit_its_model_and_keeps_the_value(tmp_path):
    """A value the readers could not parse fails in the cell that made it, with the step named; the value stays
    on disk beside metrics.json, and the day's metrics.json keeps only steps that fit."""
    from playbook.core.errors import PlaybookError
    from playbook.reports.recorder import DayRecorder

    recorder = DayRecorder(tmp_path, 7, "cpu-smollm2")
    with pytest.raises(PlaybookError, match=r"step 'sweep' of day 7 .*sweep\.0\.concurrency"):
        recorder.record("sweep", [{"concurrency": "lots"}])
    with pytest.raises(PlaybookError, match="undeclared step"):
        recorder.record("no_such_step", 1)
    assert json.loads((tmp_path / "rejected-sweep.json").read_text()) == [{"concurrency": "lots"}]
    recorder.record("sweep", [{"concurrency": 4, "status": "ok"}])
    recorder.finish()
    assert load_day_result(tmp_path / "metrics.json").steps.sweep[0].concurrency == 4


@pytest.mark.parametrize(
    ("day", "step", "value", "where"),
    [
        (1, "server", {"argv": ["vllm"]}, "server.engine"),
        (5, "healthcheck", {"reason": "healthy"}, "healthcheck.ok"),
        (8, "decision", {"engine": "vllm"}, "decision.rule"),
        (6, "article_lora_name", {"answer": "x"}, "article_lora_name.ignored"),
        (4, "fit_24gb", [{"model": "7B"}], "fit_24gb.0.fits"),
    ],
)
def test_steps_once_free_form_are_typed_now(tmp_path, day, step, value, where):
    """The steps that were ``Any`` until 2026-12-04: a value missing what a reader uses is refused when recorded."""
    from playbook.core.errors import PlaybookError
    from playbook.reports.recorder import DayRecorder

    with pytest.raises(PlaybookError, match=re.escape(where)):
        DayRecorder(tmp_path, day, "cpu-smollm2").record(step, value)


def test_a_health_report_recorded_as_json_text_still_reads():
    """Day 5 recorded the health report as a JSON string before 2026-12-04; those files still parse."""
    from playbook.reports.results import Day5Steps

    steps = Day5Steps.model_validate({"healthcheck": '{"ok": true, "reason": "healthy", "steps": []}'})
    assert steps.healthcheck.ok and steps.healthcheck.reason == "healthy"


def test_no_day_result_model_leaves_a_field_untyped():
    """Every step field says what it holds (``Any`` only with a reason written beside it)."""
    import inspect

    from playbook.reports import results

    source = inspect.getsource(results)
    untyped = [line.strip() for line in source.splitlines() if re.match(r"\s+\w+: Any\b", line) and "#" not in line]
    assert untyped == []
