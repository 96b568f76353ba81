"""benchmarks/gpu/assemble_week.py: a GPU week is assembled from runs of one code commit only."""

import json

import pytest

from tests.support.results import day_metrics
from tests.support.scripts import load_gpu_script

assemble_week = load_gpu_script("assemble_week")


def run_folder(root, name: str, commit: str, days: dict[int, str]):
    folder = root / name
    for day, status in days.items():
        (folder / f"day{day:02d}").mkdir(parents=True)
        (folder / f"day{day:02d}" / "metrics.json").write_text(json.dumps(day_metrics(day, {}, status=status)))
    (folder / "manifest.json").write_text(json.dumps({"environment": {"git_commit": commit}}))
    return str(folder)


def test_days_of_one_commit_are_copied_with_where_they_came_from(tmp_path):
    first = run_folder(tmp_path, "a", "abc123" + "0" * 34, {1: "ok", 2: "failed"})
    second = run_folder(tmp_path, "b", "abc123" + "0" * 34, {7: "ok"})
    out = tmp_path / "week"
    record = assemble_week.assemble({"commit": "abc123", "out": str(out),
                                     "days": {"vllm": {"1": first, "2": first, "7": second}}})  # fmt: skip
    assert record["days"]["vllm"]["2"] == {"from": first, "profile": "cpu-smollm2", "status": "failed"}
    assert sorted(p.name for p in (out / "vllm").iterdir()) == ["day01", "day02", "day07", "manifest.json"]


def test_a_run_of_another_commit_is_refused(tmp_path):
    ours = run_folder(tmp_path, "a", "abc123" + "0" * 34, {1: "ok"})
    other = run_folder(tmp_path, "b", "def456" + "0" * 34, {7: "ok"})
    with pytest.raises(SystemExit, match="commit def456000000, not abc123: not one code commit"):
        assemble_week.assemble({"commit": "abc123", "out": str(tmp_path / "week"),
                                "days": {"vllm": {"1": ours, "7": other}}})  # fmt: skip


def test_another_commit_only_for_a_day_the_spec_gives_a_reason_for(tmp_path):
    ours = run_folder(tmp_path, "a", "abc123" + "0" * 34, {1: "ok"})
    later = run_folder(tmp_path, "b", "def456" + "0" * 34, {4: "ok"})
    days = {"sglang": {"1": ours, "4": later}}
    why = "abc123's Day 4 scores perplexity only through vLLM's extension"
    record = assemble_week.assemble({"commit": "abc123", "out": str(tmp_path / "week"), "days": days,
                                     "other_commit": {"sglang": {"4": why}}})  # fmt: skip
    day4 = record["days"]["sglang"]["4"]
    assert day4["commit"] == "def456" + "0" * 34 and day4["why"] == why
    assert "commit" not in record["days"]["sglang"]["1"]
    with pytest.raises(SystemExit, match="not one code commit"):  # a reason for another day does not cover it
        assemble_week.assemble({"commit": "abc123", "out": str(tmp_path / "week2"), "days": days,
                                "other_commit": {"sglang": {"1": why}}})  # fmt: skip


def test_a_day_an_engine_could_not_run_is_kept_with_its_reason_and_evidence(tmp_path):
    ours = run_folder(tmp_path, "a", "abc123" + "0" * 34, {1: "ok"})
    evidence = {"why": "SGLang 0.5.14 never finished a forward pass on the W4A16 checkpoint", "evidence": ours}
    spec = {"commit": "abc123", "out": str(tmp_path / "week"), "days": {"sglang": {"1": ours}},
            "not_run": {"sglang": {"4": evidence}}}  # fmt: skip
    record = assemble_week.assemble(spec)
    assert record["days"]["sglang"]["4"] == {"status": "not run", **evidence}
    assert not (tmp_path / "week" / "sglang" / "day04").exists()
    assert json.loads((tmp_path / "week" / "sglang" / "not_run.json").read_text()) == {"4": evidence}


@pytest.mark.parametrize(
    ("entry", "days", "message"),
    [
        ({"why": "hangs", "evidence": "no/such/folder"}, {}, "an 'evidence' folder that exists"),
        ({"evidence": "."}, {}, "give a 'why'"),
        ({"why": "hangs", "evidence": "."}, {"4": "a"}, "also lists a run of that day"),
    ],
)
def test_a_day_not_run_without_reason_or_evidence_or_also_run_is_refused(tmp_path, entry, days, message):
    ours = run_folder(tmp_path, "a", "abc123" + "0" * 34, {1: "ok"})
    run_days = {"1": ours, **{day: ours for day in days}}
    with pytest.raises(SystemExit, match=message):
        assemble_week.assemble({"commit": "abc123", "out": str(tmp_path / "week"),
                                "days": {"sglang": run_days}, "not_run": {"sglang": {"4": entry}}})  # fmt: skip
