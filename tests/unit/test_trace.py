"""Your traffic's timing (``--dataset trace:PATH``): rows checked one line each, prompts distinct at the trace's
lengths, and the load generator sending each at its time (scaled by ``trace_speed``)."""

from __future__ import annotations

import json

import pytest

from playbook.core.errors import PlaybookError
from playbook.core.profiles import REPO_ROOT
from playbook.load.datasets import build_requests
from playbook.load.loadgen import LoadConfig, read_records, run_load
from playbook.serving.endpoint import Endpoint

EXAMPLE = REPO_ROOT / "docs" / "examples" / "trace.jsonl"


def write_trace(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def row(arrival, prompt=16, output=4):
    return {"arrival_s": arrival, "input_tokens": prompt, "output_tokens": output}


def test_a_trace_gives_distinct_prompts_of_its_lengths_in_arrival_order(tmp_path):
    path = write_trace(tmp_path / "t.jsonl", [row(0.5, 20, 3), row(0.0, 16, 7), "", row(0.2, 16, 5)])
    samples = build_requests(f"trace:{path}", 10, seed=0)  # more asked for than the trace holds: all of it
    assert [(s.arrival_s, s.prompt_tokens_estimate, s.max_tokens) for s in samples] == [
        (0.0, 16, 7), (0.2, 16, 5), (0.5, 20, 3)]  # fmt: skip
    assert len({s.messages[0]["content"] for s in samples}) == 3
    assert [s.arrival_s for s in build_requests(f"trace:{path}", 2, seed=0)] == [0.0, 0.2]  # the first in time


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("{oops", r"t\.jsonl:2: not JSON"),
        (json.dumps({"arrival_s": 1}), r"t\.jsonl:2: a trace row needs arrival_s, input_tokens, output_tokens"),
        (json.dumps(row(-1)), r"t\.jsonl:2: arrival_s must be a number of seconds >= 0"),
        (json.dumps(row(1, prompt=0)), r"t\.jsonl:2: input_tokens must be a whole number >= 1"),
        (json.dumps(row(1, output=2.5)), r"t\.jsonl:2: output_tokens must be a whole number >= 1"),
    ],
)
def test_a_bad_trace_row_is_one_line_naming_its_line(tmp_path, bad, problem):
    path = write_trace(tmp_path / "t.jsonl", [row(0), bad])
    with pytest.raises(PlaybookError, match=problem) as raised:
        build_requests(f"trace:{path}", 5, seed=0)
    assert "\n" not in str(raised.value)


def test_a_trace_that_is_not_jsonl_is_refused_by_name(tmp_path, capsys):
    from playbook.cli import main

    with pytest.raises(SystemExit):
        main(["loadtest", "--base-url", "http://x", "--model", "m", "--dataset", f"trace:{tmp_path / 't.csv'}"])
    assert "give a .jsonl file, one request a line" in capsys.readouterr().err


def test_the_load_generator_sends_each_request_at_its_time_and_faster_on_request(mock_server, tmp_path):
    _, url = mock_server
    samples = build_requests(f"trace:{write_trace(tmp_path / 't.jsonl', [row(0), row(0.4), row(0.8), row(1.6)])}",
                             4, seed=0)  # fmt: skip
    config = LoadConfig(mode="open", arrival="trace", trace_speed=2.0, concurrency=8, scrape_interval_s=None)
    run_load(Endpoint(url, "mock-model"), config, samples, tmp_path / "run")
    records = sorted(read_records(tmp_path / "run" / "requests.jsonl"), key=lambda r: r.scheduled_unix_s)
    offsets = [r.scheduled_unix_s - records[0].scheduled_unix_s for r in records]
    assert offsets == pytest.approx([0, 0.2, 0.4, 0.8], abs=0.02)  # the trace's times, twice as fast
    assert all(r.start_unix_s - r.scheduled_unix_s < 0.2 for r in records)  # sent on time
    with pytest.raises(PlaybookError, match="arrival 'trace' replays a trace's times"):
        run_load(Endpoint(url, "mock-model"), config, build_requests("synthetic", 2, 0), tmp_path / "no-trace")


def test_the_shipped_example_replays_through_the_cli(mock_server, tmp_path):
    """``playbook loadtest --dataset trace:docs/examples/trace.jsonl`` against the mock server, sped up 20 times."""
    from playbook.cli import main

    _, url = mock_server
    code = main(["loadtest", "--base-url", url, "--model", "mock-model", "--dataset", f"trace:{EXAMPLE}",
                 "--trace-speed", "20", "--out", str(tmp_path)])  # fmt: skip
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert code == 0 and summary["config"]["arrival"] == "trace" and summary["summary"]["successes"] == 60
