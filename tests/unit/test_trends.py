"""The trends page: headline metrics collected over several run folders, regressions marked."""

import json

from playbook.reports.index import write_index
from playbook.reports.trends import collect
from tests.support.results import day_metrics, run_manifest, summary


def make_run(root, run_id, profile, tok_s, regressed=None):
    run = root / "2026-11-25" / run_id
    (run / "day07").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps(run_manifest(run_id, profile)))
    steps = {"peak": {"status": "ok", "summary": summary(tok_s)}}
    if regressed is not None:
        steps["baseline_comparison"] = {"regressed": regressed}
    (run / "day07" / "metrics.json").write_text(json.dumps(day_metrics(7, steps, profile)))


def test_a_day_file_of_another_schema_version_is_left_out_not_fatal(tmp_path):
    make_run(tmp_path, "run-0001", "cpu-smollm2", 100.0)
    path = tmp_path / "2026-11-25" / "run-0001" / "day07" / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 99}))
    make_run(tmp_path, "run-0002", "cpu-smollm2", 80.0)
    assert list(collect(tmp_path).run_id.unique()) == ["run-0002"]


def test_trends_cover_every_run_and_mark_regressions(tmp_path):
    make_run(tmp_path, "run-0001", "cpu-smollm2", 100.0)
    make_run(tmp_path, "run-0002", "cpu-smollm2", 80.0, regressed=True)
    make_run(tmp_path, "run-0003", "h100-qwen2.5-7b", 9000.0, regressed=False)
    (tmp_path / "2026-11-25" / "run-0004").mkdir()  # a run that died before writing anything
    frame = collect(tmp_path)
    tok_s = frame[frame.metric == "Day 7: output tok/s at the peak"]
    assert list(tok_s.run_id) == ["run-0001", "run-0002", "run-0003"]  # oldest first
    assert list(tok_s.regressed) == [False, True, False]
    write_index(tmp_path)
    page = (tmp_path / "trends.html").read_text()
    assert "cpu-smollm2" in page and "h100-qwen2.5-7b" in page
    assert "Regressed against the baseline: run-0002" in page
    assert 'href="trends.html"' in (tmp_path / "index.html").read_text()


def test_no_measurements_yet(tmp_path):
    write_index(tmp_path)
    assert "No run has measured a headline metric yet" in (tmp_path / "trends.html").read_text()
