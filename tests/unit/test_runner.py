"""Run-id allocation, day parsing, output checks, recorder and index."""

from __future__ import annotations

import json
import threading
from datetime import date

import pytest

from playbook.core.errors import OutputNotWritableError, PlaybookError
from playbook.reports.index import write_index
from playbook.reports.layout import allocate_run_dir, ensure_writable, load_runs
from playbook.reports.recorder import DayRecorder
from playbook.run.runner import parse_days


def test_run_ids_increase_across_dates(tmp_path):
    first = allocate_run_dir(tmp_path, date(2026, 11, 24))
    second = allocate_run_dir(tmp_path, date(2026, 11, 25))
    third = allocate_run_dir(tmp_path, date(2026, 11, 25))
    assert [p.name for p in (first, second, third)] == ["run-0001", "run-0002", "run-0003"]
    assert second.parent.name == "2026-11-25"


def test_run_ids_never_reuse_a_folder(tmp_path):
    (tmp_path / "2026-01-01" / "run-0007").mkdir(parents=True)
    assert allocate_run_dir(tmp_path, date(2026, 1, 2)).name == "run-0008"


def test_concurrent_allocation_gives_distinct_folders(tmp_path):
    got = []
    threads = [threading.Thread(target=lambda: got.append(allocate_run_dir(tmp_path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({p.name for p in got}) == 8


def test_parse_days():
    assert parse_days("1") == [1]
    assert parse_days(None) == parse_days("all")
    with pytest.raises(PlaybookError, match="unknown day"):
        parse_days("1,42")
    with pytest.raises(PlaybookError, match="comma-separated"):
        parse_days("one")


def test_unwritable_outputs_fail_before_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputNotWritableError, match="not writable"):
        ensure_writable(blocker / "outputs")


def test_recorder_saves_after_every_step(tmp_path):
    recorder = DayRecorder(tmp_path, 1, "cpu-smollm2")
    recorder.record("curl", {"command": "curl ...", "exit_code": 0, "answer": "Paris", "ttft_ms": 12.5})
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["status"] == "running" and on_disk["steps"]["curl"]["ttft_ms"] == 12.5
    recorder.skip("sglang", "no CPU build")
    recorder.finish("ok")
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["status"] == "ok" and on_disk["skipped"] == {"sglang": "no CPU build"}


def test_index_lists_every_run(tmp_path):
    for number, status in ((1, "ok"), (2, "failed"), (3, "partial")):
        run = tmp_path / "2026-11-25" / f"run-{number:04d}"
        run.mkdir(parents=True)
        manifest = {"run_id": run.name, "date": "2026-11-25", "status": status, "started_utc": "2026-11-25T10:00:00",
                    "profile_file": "params/cpu-smollm2.yaml", "profile": {"name": "cpu-smollm2"}, "engine": "vllm",
                    "days": [{"day": 1, "folder": "day01", "status": status, "error": None}]}  # fmt: skip
        (run / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "2026-11-25" / "run-0004").mkdir()  # a run that died before its manifest
    runs = load_runs(tmp_path)
    assert [r.run_id for r in runs] == ["run-0003", "run-0002", "run-0001"]
    html = write_index(tmp_path).read_text()
    for number in (1, 2, 3):
        assert f"2026-11-25/run-{number:04d}/day01/report.html" in html
    assert 'class="failed">failed' in html


def test_find_run_for_rerun(tmp_path):
    from playbook.reports.layout import find_run

    run = tmp_path / "2026-11-24" / "run-0002"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text("{}")
    assert find_run(tmp_path, "run-0002") == run
    with pytest.raises(PlaybookError, match="no run 'run-0009'"):
        find_run(tmp_path, "run-0009")


def test_engine_versions_are_read_with_the_engines_own_environment(tmp_path):
    """A staged engine lives on the PYTHONPATH its profile entry gives it (the lent GPU machine): its version is
    found only with that environment, as the engine itself would see it."""
    import sys

    from playbook.run.manifest import package_versions

    dist = tmp_path / "sglang-9.9.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sglang\nVersion: 9.9.1\n")
    assert package_versions(sys.executable).get("sglang") != "9.9.1"
    assert package_versions(sys.executable, {"PYTHONPATH": str(tmp_path)})["sglang"] == "9.9.1"


def test_a_given_source_commit_wins_over_a_stale_checkout(monkeypatch):
    from playbook.run.manifest import git_state

    monkeypatch.setenv("PLAYBOOK_SOURCE_COMMIT", "a238fbb")
    assert git_state() == {"git_commit": "a238fbb", "git_dirty": None, "git_commit_from": "PLAYBOOK_SOURCE_COMMIT"}
    monkeypatch.delenv("PLAYBOOK_SOURCE_COMMIT")
    assert len(git_state()["git_commit"]) == 40
