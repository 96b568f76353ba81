"""Load generator: input checks, records against a real local HTTP server, failure as data."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from pydantic import ValidationError

from playbook.core.errors import PlaybookError
from playbook.load.client import RequestRecord
from playbook.load.datasets import SampleRequest
from playbook.load.loadgen import LoadConfig, arrival_offsets, goodput, ramped, read_records, run_load
from playbook.serving.endpoint import Endpoint
from tests.support.mock import free_port, start_mock


def test_a_hanging_request_times_out_as_an_error_not_a_stuck_run(tmp_path):
    proc, url = start_mock("--stall-after", "3")
    try:
        endpoint = Endpoint(url, "mock-model")
        config = LoadConfig(concurrency=4, request_timeout_s=2, scrape_interval_s=None)
        started = time.monotonic()
        result = run_load(endpoint, config, SAMPLES[:8], tmp_path)
    finally:
        proc.kill()
        proc.wait()
    assert time.monotonic() - started < 30
    records = read_records(tmp_path / "requests.jsonl")
    assert len(records) == 8 and {r.error_kind for r in records} == {"timeout"}
    assert all(r.ttft_ms is not None for r in records), "the first tokens arrived before the stall"
    assert result.status == "partial" and "timeout" in result.error


SAMPLES = [SampleRequest([{"role": "user", "content": f"hello {i}"}], 8, 2) for i in range(40)]


def test_config_rejects_bad_input():
    with pytest.raises(ValidationError, match="concurrency"):
        LoadConfig(concurrency=0)
    with pytest.raises(ValidationError, match="request_rate"):
        LoadConfig(concurrency=4, mode="open")
    with pytest.raises(PlaybookError, match="http://"):
        Endpoint("127.0.0.1:8000", "m")


def test_a_summary_names_the_endpoint_it_measured_but_never_its_key(mock_server, tmp_path):
    """The endpoint travels apart from the load's settings; summary.json still says where and which model."""
    _, url = mock_server
    endpoint = Endpoint(url, "mock-model", api_key="sk-secret")
    result = run_load(endpoint, LoadConfig(concurrency=1, scrape_interval_s=None), SAMPLES[:2], tmp_path)
    assert result.config["base_url"] == url and result.config["model"] == "mock-model"
    assert "sk-secret" not in (tmp_path / "summary.json").read_text()


def test_unreachable_endpoint_fails_before_load(tmp_path):
    endpoint = Endpoint(f"http://127.0.0.1:{free_port()}", "m")
    config = LoadConfig(concurrency=2)
    with pytest.raises(PlaybookError, match="unreachable"):
        run_load(endpoint, config, SAMPLES, tmp_path)
    assert not (tmp_path / "requests.jsonl").exists() or (tmp_path / "requests.jsonl").read_text() == ""


def test_wrong_model_name_fails_before_load(mock_server, tmp_path):
    _, url = mock_server
    endpoint = Endpoint(url, "not-served")
    config = LoadConfig(concurrency=2)
    with pytest.raises(PlaybookError, match=r"'not-served' is not served .*mock-model"):
        run_load(endpoint, config, SAMPLES, tmp_path)


def test_closed_loop_records_every_request(mock_server, tmp_path):
    _, url = mock_server
    endpoint = Endpoint(url, "mock-model")
    config = LoadConfig(concurrency=8, warmup_requests=2, scrape_interval_s=None)
    result = run_load(endpoint, config, SAMPLES, tmp_path)
    records = read_records(tmp_path / "requests.jsonl")
    assert result.status == "ok" and len(records) == 40 and all(r.success for r in records)
    assert {r.request_id for r in records} == set(range(40)), "warm-up requests are not recorded"
    assert all(r.completion_tokens == 8 and len(r.itl_ms) == 7 for r in records)
    assert result.summary.ttft.p50_ms >= 30  # the mock waits 30 ms before the first token
    assert 4 <= result.summary.itl.p50_ms < 50  # ~5 ms per token at 200 tok/s
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "ok"


def test_open_loop_measures_from_schedule(mock_server, tmp_path):
    _, url = mock_server
    endpoint = Endpoint(url, "mock-model")
    config = LoadConfig(concurrency=1, mode="open", request_rate=50,
                        arrival="constant", scrape_interval_s=None)  # fmt: skip
    result = run_load(endpoint, config, SAMPLES[:20], tmp_path)
    # 50 req/s offered, but one at a time at ~65 ms each: requests queue behind the cap,
    # and latency from the scheduled time must show that wait.
    assert result.e2e_from_schedule.p99_ms > 2 * result.summary.e2e.p99_ms
    records = read_records(tmp_path / "requests.jsonl")
    assert all(r.scheduled_unix_s is not None for r in records)


def test_a_rate_ramp_rises_linearly_and_keeps_the_order():
    steady = arrival_offsets(200, 10.0, "poisson", seed=0)
    ramp = ramped(steady, 4.0)
    assert ramp == sorted(ramp) and ramp[0] == 0.0
    on_ramp = [t for t in ramp if t < 4.0]
    # arrivals by t grow as t² on the ramp: half of the ramp's arrivals come in its last 29 % (1 - 1/√2)
    assert 12 <= len(on_ramp) <= 28  # 10 req/s x 4 s / 2 = 20 expected
    assert sum(t >= 4.0 * 2**-0.5 for t in on_ramp) >= len(on_ramp) / 2 - 4
    assert all(abs((r - s) - 2.0) < 1e-9 for s, r in zip(steady, ramp, strict=True) if s >= 2.0)  # then shifted


def test_an_open_loop_ramp_is_recorded_but_left_out_of_the_summary(mock_server, tmp_path):
    _, url = mock_server
    config = LoadConfig(concurrency=40, mode="open", request_rate=20, arrival="constant", ramp_s=1.0,
                        scrape_interval_s=None)  # fmt: skip
    result = run_load(Endpoint(url, "mock-model"), config, SAMPLES[:30], tmp_path)
    records = read_records(tmp_path / "requests.jsonl")
    start = min(r.scheduled_unix_s for r in records)
    after = [r for r in records if r.scheduled_unix_s >= start + 1.0]
    assert len(records) == 30 and 0 < len(after) < 30
    assert result.summary.requests == len(after) and result.status == "ok"


def test_server_killed_mid_run_keeps_completed_records(mock_server, tmp_path):
    proc, url = mock_server
    slow = [SampleRequest([{"role": "user", "content": "x"}], 200, 1) for _ in range(30)]  # ~1 s each
    endpoint = Endpoint(url, "mock-model")
    config = LoadConfig(concurrency=3, scrape_interval_s=None)

    import threading

    threading.Timer(2.5, proc.kill).start()
    result = run_load(endpoint, config, slow, tmp_path)
    records = read_records(tmp_path / "requests.jsonl")
    done = [r for r in records if r.success]
    assert result.status == "partial" and result.error
    assert 3 <= len(done) < 30, "requests finished before the kill are kept"
    assert all(r.error_kind == "connection" for r in records if not r.success)


def test_arrivals_are_seeded():
    assert arrival_offsets(5, 10, "poisson", 1) == arrival_offsets(5, 10, "poisson", 1)
    assert arrival_offsets(5, 10, "poisson", 1) != arrival_offsets(5, 10, "poisson", 2)
    assert arrival_offsets(3, 10, "constant", 0) == [0.0, 0.1, 0.2]
    poisson = arrival_offsets(64, 1.0, "poisson", 0)  # unscaled, this draw spanned 73.5 s: an offered 0.86 req/s
    assert poisson[-1] == pytest.approx(63.0) and poisson == sorted(poisson)
    gaps = [b - a for a, b in itertools.pairwise(poisson)]
    assert max(gaps) > 3 * min(gaps)  # still random gaps, not a metronome


def test_goodput():
    ok = RequestRecord(0, 0.0, ttft_ms=100, e2e_ms=1000, completion_tokens=10, success=True)
    slow = RequestRecord(1, 0.0, ttft_ms=900, e2e_ms=2000, completion_tokens=10, success=True)
    failed = RequestRecord(2, 0.0, success=False)
    assert goodput([ok, slow, failed], slo_ttft_ms=500, slo_tpot_ms=None) == pytest.approx(1 / 3)
    assert goodput([ok], None, None) is None


def test_datasets_are_seeded_and_named():
    from playbook.load.datasets import build_requests

    a = build_requests("synthetic", 5, seed=3, input_tokens=32, output_tokens=4)
    b = build_requests("synthetic", 5, seed=3, input_tokens=32, output_tokens=4)
    c = build_requests("synthetic", 5, seed=4, input_tokens=32, output_tokens=4)
    assert a == b and a != c
    prefixed = build_requests("shared-prefix", 8, seed=0, num_prefixes=2, prefix_tokens=64, suffix_tokens=8)
    assert len({r.messages[0]["content"] for r in prefixed}) == 2
    with pytest.raises(PlaybookError, match="unknown dataset 'nope'; known: sharegpt, synthetic, shared-prefix"):
        build_requests("nope", 1, 0)


def test_truncated_json_array_is_read_item_by_item(tmp_path):
    from playbook.load.datasets import iter_sharegpt

    path = tmp_path / "cut.json"
    path.write_text('[{"id": 1, "conversations": []}, {"id": 2, "conversations": []}, {"id": 3, "conv')
    assert [item["id"] for item in iter_sharegpt(path)] == [1, 2]


def test_sharegpt_package_yields_real_conversations():
    from playbook.load.datasets import build_requests

    requests = build_requests("sharegpt", 20, seed=0, max_prompt_tokens=256, output_tokens=32)
    assert len(requests) == 20 and all(r.messages[0]["role"] == "user" for r in requests)
    assert all(4 <= r.max_tokens <= 32 for r in requests)


@pytest.mark.parametrize(
    ("fail_first", "max_retries", "attempts", "successes", "retried", "errors"),
    [
        (2, 2, [3, 1, 1], 3, 1, {}),  # refused twice, third try served: reported apart from first-try success
        (2, 0, [1, 1, 1], 1, 0, {"http_503": 2}),  # no retries: the server's refusals stay errors
        (3, 1, [2, 2, 1], 2, 1, {"http_503": 1}),  # bounded: the first request gives up after 2 tries
    ],
)
def test_retries_are_bounded_and_reported_apart(
    tmp_path, fail_first, max_retries, attempts, successes, retried, errors
):
    proc, url = start_mock("--fail-first", str(fail_first))
    try:
        samples = [SampleRequest([{"role": "user", "content": "hi"}], 4, 1) for _ in range(3)]
        endpoint = Endpoint(url, "mock-model")
        config = LoadConfig(concurrency=1, max_retries=max_retries,
                            retry_backoff_s=0.05, scrape_interval_s=None)  # fmt: skip
        result = run_load(endpoint, config, samples, tmp_path / "retry", desc="retry")
    finally:
        proc.kill()
        proc.wait()
    records = sorted(read_records(result.requests_path), key=lambda r: r.request_id)
    assert [r.attempts for r in records] == attempts
    summary = result.summary
    assert (summary.successes, summary.retried_successes, summary.errors_by_kind) == (successes, retried, errors)
    if retried:
        assert "only after retries" in summary.format_text()


@pytest.mark.parametrize(
    ("flag", "kind"), [("--end-after", "truncated"), ("--error-after", "stream_error")], ids=["truncated", "error"]
)
def test_a_stream_that_does_not_end_as_the_protocol_says_is_a_failure(tmp_path, flag, kind):
    """Tokens then a clean close without usage or [DONE], or tokens then vLLM's error event: never a success."""
    proc, url = start_mock(flag, "3")
    try:
        endpoint = Endpoint(url, "mock-model")
        config = LoadConfig(concurrency=2, scrape_interval_s=None)
        result = run_load(endpoint, config, SAMPLES[:4], tmp_path)
    finally:
        proc.kill()
        proc.wait()
    records = read_records(tmp_path / "requests.jsonl")
    assert {r.error_kind for r in records} == {kind} and not any(r.success for r in records)
    assert all(r.output_text for r in records), "the tokens that did arrive stay in the record"
    assert result.status == "partial" and result.summary.successes == 0 and kind in result.error
    if kind == "stream_error":
        assert records[0].error == "mock: generation failed"


def test_a_folder_reused_for_a_second_run_never_mixes_the_runs(mock_server, tmp_path):
    _, url = mock_server
    endpoint = Endpoint(url, "mock-model")
    config = LoadConfig(concurrency=2, scrape_interval_s=None)
    run_load(endpoint, config, SAMPLES[:3], tmp_path)
    second = run_load(endpoint, config, SAMPLES[:5], tmp_path)
    assert len(read_records(tmp_path / "requests.jsonl")) == 5 == second.summary.requests
    earlier = next(tmp_path.glob("earlier-*"))
    assert len(read_records(earlier / "requests.jsonl")) == 3 and (earlier / "summary.json").exists()


def test_every_run_leaves_csvs_a_spreadsheet_reads(mock_server, tmp_path):
    """requests.csv has a row a request (the JSONL's timings, the gaps as count and mean), summary.csv one row with
    the day tables' column names; both agree with summary.json."""
    import csv

    _, url = mock_server
    result = run_load(Endpoint(url, "mock-model"), LoadConfig(concurrency=2, scrape_interval_s=None), SAMPLES[:6],
                      tmp_path)  # fmt: skip
    with (tmp_path / "requests.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and {r["success"] for r in rows} == {"True"}
    assert sorted(int(r["request_id"]) for r in rows) == list(range(6)) and float(rows[0]["ttft_ms"]) > 0
    with (tmp_path / "summary.csv").open() as handle:
        (summary,) = list(csv.DictReader(handle))
    assert summary["status"] == "ok" and int(summary["ok"]) == 6
    assert float(summary["output_tok_s"]) == pytest.approx(result.summary.output_throughput_tok_s)
