"""Day 3 scoring and constraints: known answers, real schema validation, the hit-rate warning."""

import json

import pytest

from playbook.days import prefixcache
from playbook.days.prefixcache import CacheCounters, hit_rate_between, hit_rate_warning
from playbook.days.structured import STATUSES, constraint_body, make_tasks, score, to_sample


@pytest.fixture(scope="module")
def tasks():
    return make_tasks(2, seed=0)


def test_tasks_are_deterministic_and_cover_every_kind(tasks):
    assert [t.text for t in tasks] == [t.text for t in make_tasks(2, seed=0)]
    assert [t.text for t in tasks] != [t.text for t in make_tasks(2, seed=1)]
    assert {t.kind for t in tasks} == {"person", "company", "order", "choice", "regex"}
    for t in tasks:
        if isinstance(t.truth, dict):
            assert all(str(v) in t.text for v in t.truth.values()), "the answer is in the paragraph"


def test_json_scoring_validates_against_the_schema(tasks):
    person = next(t for t in tasks if t.kind == "person")
    exact = score(person, json.dumps(person.truth))
    assert exact.schema_valid and exact.field_accuracy == 1.0
    answer = json.dumps({"name": person.truth["name"], "age": 1, "city": "x"})
    wrapped = score(person, f"Sure! {answer} Hope it helps.")
    assert wrapped.parsed and wrapped.schema_valid and wrapped.field_accuracy == pytest.approx(1 / 3)
    wrong_type = score(person, '{"name": "A", "age": "forty", "city": "x", "extra": 1}')
    assert wrong_type.parsed and not wrong_type.schema_valid
    assert any("is not of type 'integer'" in e for e in wrong_type.errors)
    assert not score(person, "I cannot help with that.").parsed


def test_choice_and_regex_scoring(tasks):
    choice = next(t for t in tasks if t.kind == "choice")
    assert score(choice, choice.truth).field_accuracy == 1.0
    other = next(s for s in STATUSES if s != choice.truth)
    assert score(choice, other).schema_valid and score(choice, other).field_accuracy == 0.0
    assert not score(choice, "It has been shipped").schema_valid
    date = next(t for t in tasks if t.kind == "regex")
    assert score(date, date.truth).field_accuracy == 1.0 and not score(date, "March 3rd").schema_valid


def test_constraints_use_each_engines_real_api(tasks):
    person, choice, date = (next(t for t in tasks if t.kind == k) for k in ("person", "choice", "regex"))
    assert constraint_body(person, "vllm")["response_format"]["json_schema"]["schema"]["required"] == [
        "name", "age", "city"]  # fmt: skip
    assert constraint_body(choice, "vllm") == {"structured_outputs": {"choice": STATUSES}}
    assert constraint_body(date, "vllm") == {"structured_outputs": {"regex": r"\d{4}-\d{2}-\d{2}"}}
    assert constraint_body(choice, "sglang") == {"regex": "(pending|shipped|delivered|cancelled)"}
    assert to_sample(person, False, "vllm", 64).extra_body is None  # same prompt, no constraint


def test_hit_rate_warning_fires_below_the_threshold():
    low = hit_rate_between(CacheCounters(100, 1000), CacheCounters(110, 2000))
    assert low.rate == pytest.approx(0.01)
    warning = hit_rate_warning("no-sharing", low.rate, 0.6)
    assert warning.startswith("WARNING") and "1%, below 60%" in warning
    assert all(cause in warning for cause in prefixcache.LIKELY_CAUSES)
    high = hit_rate_between(CacheCounters(0, 0), CacheCounters(900, 1000))
    assert hit_rate_warning("shared-prefix", high.rate, 0.6) is None
    assert "no lookups were counted" in hit_rate_warning(
        "idle", hit_rate_between(CacheCounters(5, 5), CacheCounters(5, 5)).rate, 0.6
    )


def test_another_engines_day3_rows_carry_its_name_and_its_request_fields(tmp_path, tasks):
    """Day 3's comparison section on an SGLang-shaped endpoint (the mock server, which records what it was sent):
    every row is labelled ``sglang``, the constrained requests carry SGLang's ``regex`` field and never vLLM's
    ``structured_outputs`` extension, and the shared-prefix row comes from the same server."""
    from playbook.core.profiles import Day3Settings
    from playbook.days import day3
    from playbook.serving.launcher import Server
    from tests.support.mock import start_mock

    bodies = tmp_path / "bodies.jsonl"
    proc, url = start_mock("--bodies", str(bodies))
    try:
        settings = Day3Settings(tasks_per_kind=1, concurrency=[1], max_tokens=8, prefix_requests=2,
                                prefix_tokens=16, suffix_tokens=4)  # fmt: skip
        shared = [to_sample(t, False, "sglang", 8) for t in tasks[:2]]
        sets = {(False, 1): tasks, (True, 1): tasks}
        rows = day3.engine_rows(Server("sglang", url, "mock-model"), sets, shared, tmp_path, settings)
    finally:
        proc.kill()
    assert {r["engine"] for r in rows} == {"sglang"}
    assert [(r["workload"], r.get("constrained")) for r in rows] == [
        ("structured", False), ("structured", True), ("shared-prefix", None)]  # fmt: skip
    sent = [json.loads(line) for line in bodies.read_text().splitlines()]
    assert not any("structured_outputs" in body for body in sent), "vLLM's extension sent to SGLang"
    sent = [b for b in sent if not b["messages"][-1]["content"].startswith("Warm-up")]
    regex_tasks = [t for t in tasks if t.kind in ("choice", "regex")]
    assert sum("regex" in body for body in sent) == len(regex_tasks), "each choice/regex task once, constrained"
    assert sum("response_format" in body for body in sent) == len(tasks) - len(regex_tasks)


def test_each_day3_run_gets_tasks_of_its_own_with_the_same_kinds():
    """No run on the main server meets a prompt an earlier run sent (a cache hit would shorten its TTFT); every
    set has the same kinds and counts, and the sets are the same for the same seed."""
    from playbook.core.profiles import Day3Settings
    from playbook.days.day3 import task_sets

    sets = task_sets(Day3Settings(tasks_per_kind=3, concurrency=[1, 8]), seed=0)
    assert sorted(sets) == [(False, 1), (False, 8), (True, 1), (True, 8)]
    texts = [t.text for tasks in sets.values() for t in tasks]
    assert len(set(texts)) == len(texts) == 4 * 15
    assert {tuple(sorted(t.kind for t in tasks)) for tasks in sets.values()} == {tuple(sorted(
        t.kind for t in next(iter(sets.values()))))}  # fmt: skip
    assert [t.text for t in task_sets(Day3Settings(tasks_per_kind=3, concurrency=[1, 8]), 0)[(True, 8)]] == [
        t.text for t in sets[(True, 8)]]  # fmt: skip
