"""Two engines in alternating rounds (``playbook.run.compare``): the turns swap every round, each engine gets the
same distinct prompts and never one twice, a dead contender stops alone, and the page draws what the JSON holds."""

from __future__ import annotations

import json

import pytest

from playbook.core.errors import PlaybookError
from playbook.core.profiles import Day7Settings
from playbook.load import sweep
from playbook.load.datasets import build_requests
from playbook.reports import compare_page
from playbook.run import compare
from playbook.serving.endpoint import Endpoint
from tests.support.mock import start_mock

SETTINGS = Day7Settings(sweep_concurrency=[1, 4], min_requests_per_level=4, waves_per_level=2, output_tokens=4,
                        input_tokens=16, peak_concurrency=8, peak_requests=8, warmup_requests=1)  # fmt: skip


def test_each_engine_goes_first_in_turn():
    a, b = compare.Contender("a", Endpoint("http://a", "m")), compare.Contender("b", Endpoint("http://b", "m"))
    assert [[c.name for c in compare.round_order([a, b], r)] for r in (1, 2, 3)] == [["a", "b"], ["b", "a"],
                                                                                     ["a", "b"]]  # fmt: skip


def test_the_pool_holds_every_round_of_every_level_for_one_engine():
    levels = sweep.levels_of(SETTINGS, peak=True)
    assert levels == [1, 4, 8]
    assert compare.pool_size(SETTINGS, levels, 3) == 3 * (4 + 8 + 8)


def test_shares_that_leave_no_room_are_refused_before_any_start():
    with pytest.raises(PlaybookError, match=r"--memory-share 0\.5 x 2 engines"):
        compare.check_shares(["vllm", "sglang"], 0.5)
    compare.check_shares(["vllm", "sglang"], 0.42)


@pytest.fixture
def two_mocks(tmp_path):
    started = [start_mock("--bodies", str(tmp_path / f"bodies-{name}.jsonl")) for name in ("a", "b")]
    yield [url for _, url in started]
    for proc, _ in started:
        proc.kill()
        proc.wait()


def test_alternating_rounds_on_two_live_servers(two_mocks, tmp_path):
    names = zip("ab", two_mocks, strict=True)
    contenders = [compare.Contender(name, Endpoint(url, "mock-model")) for name, url in names]
    levels, rounds = [1, 4], 3
    samples = build_requests("synthetic", compare.pool_size(SETTINGS, levels, rounds), 0, None,
                             input_tokens=16, output_tokens=4)  # fmt: skip
    seen: list[tuple] = []

    def keep(row: dict) -> None:
        seen.append((row["engine"], row["concurrency"], row["round"]))

    rows = compare.alternate(contenders, SETTINGS, levels, rounds, samples, tmp_path / "records", keep)
    assert seen == [("a", 1, 1), ("b", 1, 1), ("b", 1, 2), ("a", 1, 2), ("a", 1, 3), ("b", 1, 3),
                    ("a", 4, 1), ("b", 4, 1), ("b", 4, 2), ("a", 4, 2), ("a", 4, 3), ("b", 4, 3)]  # fmt: skip
    assert all(r["status"] == "ok" for r in rows)
    prompts = {name: _measured_prompts(tmp_path / f"bodies-{name}.jsonl") for name in "ab"}
    assert len(prompts["a"]) == len(set(prompts["a"])) == 4 * 3 + 8 * 3  # no prompt twice to one engine
    assert prompts["a"] == prompts["b"]  # the same prompts, in the same order: a paired comparison
    summary = compare.summarize(rows, ["a", "b"])
    assert [r["rounds"] for r in summary["levels"]["a"]] == [3, 3]
    verdicts = {c["verdict"] for c in summary["comparisons"]}
    assert verdicts <= {"better", "worse", "no measurable difference"}  # 3 rounds each: a spread is known


def _measured_prompts(path) -> list[str]:
    """The prompts of measured requests (warm-ups send variants of their own, marked by the load generator)."""
    bodies = [json.loads(line) for line in path.read_text().splitlines()]
    texts = [b["messages"][-1]["content"] for b in bodies]
    texts = [t if isinstance(t, str) else json.dumps(t) for t in texts]
    return [t for t in texts if not t.startswith("Warm-up")]


def test_an_engine_that_dies_stops_alone(two_mocks, tmp_path):
    a = compare.Contender("a", Endpoint(two_mocks[0], "mock-model"))
    b = compare.Contender("b", Endpoint(two_mocks[1], "mock-model"), is_alive=lambda: False)  # gone after a level
    samples = build_requests("synthetic", compare.pool_size(SETTINGS, [1, 4], 1), 0, None, input_tokens=16,
                             output_tokens=4)  # fmt: skip
    rows = compare.alternate([a, b], SETTINGS, [1, 4], 1, samples, tmp_path)
    assert [(r["engine"], r["concurrency"]) for r in rows] == [("a", 1), ("b", 1), ("a", 4)]


def test_the_page_shows_both_engines_and_no_machine_path(tmp_path):
    rows = [_row(e, c, r, tput) for e, base in (("sglang", 100), ("vllm", 130)) for c in (1, 64) for r, tput in
            enumerate((base, base + 5, base - 5), start=1)]  # fmt: skip
    record = {"profile": "p", "engines": ["sglang", "vllm"], "rounds": 3, "memory_share": 0.42, "status": "ok",
              "rows": rows, "summary": compare.summarize(rows, ["sglang", "vllm"]), "gpu_check": None,
              "servers": {"vllm": {"argv": ["/root/py", "-m", "vllm", "/root/cache/models/qwen"], "startup_s": 90,
                                   "gpu_memory_utilization": 0.42, "kv_capacity_tokens_reported": 800000}},
              "started_at": "t0", "finished_at": "t1"}  # fmt: skip
    (tmp_path / "compare.json").write_text(json.dumps(record))
    page = compare_page.render(tmp_path, tmp_path / "page").read_text()
    assert "sglang is worse in output_tok_s" in page and "<img" in page
    assert "/root/" not in page and "models/qwen" not in page and "qwen" in page


def _row(engine: str, concurrency: int, round_number: int, tput: float) -> dict:
    return {"engine": engine, "concurrency": concurrency, "round": round_number, "status": "ok", "output_tok_s": tput,
            "tpot_p50_ms": 1000 / tput, "ttft_p99_ms": 50.0, "ttft_p50_ms": 20.0, "req_s": tput / 100,
            "prefix_cache_hit_rate": 0.0}  # fmt: skip


def test_the_selection_takes_each_engines_capacity_from_the_comparison(tmp_path):
    from playbook.days import selection
    from playbook.days.verdict import decide_measured

    rows = [_row(e, 64, r, tput) for e, base in (("sglang", 1300), ("vllm", 1000)) for r, tput in
            enumerate((base, base + 10, base - 10), start=1)]  # fmt: skip
    record = {"profile": "h200-qwen2.5-7b-dummy", "engines": ["sglang", "vllm"], "rounds": 3, "status": "ok",
              "summary": compare.summarize(rows, ["sglang", "vllm"])}  # fmt: skip
    path = tmp_path / "compare.json"
    path.write_text(json.dumps(record))
    own_run = {"vllm": selection.Evidence(source="run", engine="vllm")}  # no Day 7 of its own
    columns = selection.with_comparison(own_run, path, "h200-qwen2.5-7b-dummy")
    assert set(columns) == {"vllm", "sglang"} and columns["vllm"].sweep_source == str(path)
    chat = selection.Workload(structured_share=0.0, shared_prefix_share=0.0)
    verdict = decide_measured(chat, columns, 4.54)
    assert verdict.engine == "sglang" and not verdict.tie  # 1290-1310 against 990-1010: outside the spread
    with pytest.raises(PlaybookError, match=r"comparison_json: .* compares on profile h200-qwen2\.5-7b-dummy"):
        selection.with_comparison(own_run, path, "cpu-smollm2")


def test_separate_runs_of_each_engine_get_the_same_page_with_no_winner_from_one_round(tmp_path):
    from playbook.core.profiles import REPO_ROOT

    runs = REPO_ROOT / "reference" / "h200-2026-11-30b"
    compare_page.main(["--runs", f"vllm={runs / 'vllm/day07/metrics.json'}",
                       f"sglang={runs / 'sglang/day07/metrics.json'}", "--out", str(tmp_path)])  # fmt: skip
    record = json.loads((tmp_path / "compare.json").read_text())
    assert {c["verdict"] for c in record["summary"]["comparisons"]} == {"spread unknown"}
    page = (tmp_path / "report.html").read_text()
    assert "one run after the other" in page and "vllm +20.3 % vs sglang from 1 round(s)" in page
