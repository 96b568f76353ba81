"""benchmarks/gpu/fidelity_sglang.py: the fidelity table is read from fidelity.jsonl, so a check cut at its call's
wait still yields the rows of its finished levels."""

import gzip
import json
import math
import shutil
import sys
from types import SimpleNamespace

import pytest

from tests.support.scripts import load_gpu_script

fidelity = load_gpu_script("fidelity_sglang")


def round_of(client, ttft, tpot, tok_s, hit=0.0):
    return {"client": client, "cache": "flush", "hit_rate": hit, "ttft_p50_ms": ttft, "tpot_p50_ms": tpot,
            "output_tok_s": tok_s}  # fmt: skip


def test_a_row_holds_each_clients_medians_their_ratios_and_the_highest_hit_rate():
    line = {"engine": "sglang", "concurrency": 64, "requests": 256, "rounds": [
        round_of("ours", 10, 5, 100), round_of("sglang.bench_serving", 20, 4, 80, hit=0.02),
        round_of("ours", 50, 5, 120), round_of("sglang.bench_serving", 20, 6, 120),
        round_of("ours", 20, 7, 110), round_of("sglang.bench_serving", 40, 5, 100),
    ]}  # fmt: skip
    row = fidelity.level_row(line)
    assert row[:3] == [64, 256, "3/3"]
    assert row[3:9] == [20, 5, 110, 20, 5, 100]
    assert row[9:12] == [1.0, 1.0, 1.1]
    assert row[12:] == [0.0, 0.02]


def test_a_level_one_client_never_finished_has_no_ratio_rather_than_a_wrong_one():
    line = {"engine": "sglang", "concurrency": 1, "requests": 16, "rounds": [round_of("ours", 10, 5, 100)]}
    row = fidelity.level_row(line)
    assert row[2] == "1/0"
    assert all(math.isnan(value) for value in row[6:12])


def test_a_hit_rate_never_read_shows_as_nan_not_as_a_cold_zero():
    line = {
        "engine": "sglang",
        "concurrency": 1,
        "requests": 16,
        "rounds": [round_of("ours", 10, 5, 100, hit=None), round_of("sglang.bench_serving", 10, 5, 100, hit=None)],
    }
    assert all(math.isnan(value) for value in fidelity.level_row(line)[12:])


def test_render_prints_every_finished_level_with_the_lengths_it_ran_with(tmp_path, capsys):
    lines = [{"engine": "sglang", "concurrency": c, "requests": 4 * c, "input_tokens": 256, "output_tokens": 128,
              "rounds": [round_of("ours", 10, 5, 100), round_of("sglang.bench_serving", 10, 5, 100)]}
             for c in (256, 64)]  # fmt: skip
    (tmp_path / "fidelity.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    fidelity.render(tmp_path / "fidelity.jsonl")
    printed = capsys.readouterr().out
    assert "1 rounds a level" in printed and "256 in / 128 out" in printed
    assert [
        row.split("|")[1].strip() for row in printed.splitlines() if row.startswith("| 2") or row.startswith("| 6")
    ] == ["256", "64"]


def test_render_refuses_a_file_of_the_older_format_in_one_line(tmp_path):
    (tmp_path / "fidelity.jsonl").write_text(json.dumps({"concurrency": 256, "requests": 1024, "ours": []}) + "\n")
    with pytest.raises(SystemExit, match="before per-round records"):
        fidelity.render(tmp_path / "fidelity.jsonl")


def test_render_takes_each_levels_last_line_so_a_cut_level_shows_the_rounds_it_finished(tmp_path, capsys):
    def line(c, rounds, complete):
        return {"engine": "sglang", "concurrency": c, "requests": 16, "input_tokens": 256, "output_tokens": 128,
                "complete": complete, "rounds": rounds}  # fmt: skip

    ours, theirs = round_of("ours", 10, 5, 100), round_of("sglang.bench_serving", 10, 5, 100)
    written = [line(64, [ours, theirs], False), line(64, [ours, ours, theirs, theirs], True),
               line(1, [ours, theirs], False), line(1, [ours, ours, theirs], False)]  # fmt: skip
    (tmp_path / "fidelity.jsonl").write_text("".join(json.dumps(w) + "\n" for w in written))
    fidelity.render(tmp_path / "fidelity.jsonl")
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| 6") or r.startswith("| 1 ")]
    assert [[cell.strip() for cell in r.split("|")[1:4]] for r in rows] == [["64", "16", "2/2"], ["1", "16", "2/1"]]


def test_kept_records_lose_the_generated_text_and_the_server_args_but_no_timing():
    ours = {"request_id": 3, "ttft_ms": 20.0, "itl_ms": [6.0123456, 5.9999994], "output_text": "x" * 500}
    assert fidelity.slim_ours(ours) == {"request_id": 3, "ttft_ms": 20.0, "itl_ms": [6.012, 6.0]}
    theirs = {"median_ttft_ms": 22.5, "itls": [[0.0060123456]], "generated_texts": ["y"], "server_info": {"a": 1}}
    assert fidelity.slim_sglang(theirs) == {"median_ttft_ms": 22.5, "itls": [[0.006012]]}


def test_rounds_rebuilt_from_records_give_each_clients_numbers_and_no_hit_rate(tmp_path):
    def record(i, start, ttft, e2e):
        return {"request_id": i, "start_unix_s": start, "ttft_ms": ttft, "itl_ms": [], "e2e_ms": e2e,
                "prompt_tokens": 256, "completion_tokens": 11, "success": True, "tpot_ms": 1.0}  # fmt: skip

    with gzip.open(tmp_path / "ours-c0001-r1.jsonl.gz", "wt") as sink:
        sink.write(json.dumps(record(0, 100.0, 20.0, 120.0)) + "\n" + json.dumps(record(1, 100.12, 40.0, 380.0)))
    with gzip.open(tmp_path / "sglang-c0001-r1.json.gz", "wt") as sink:
        sink.write(json.dumps({"completed": 2, "median_ttft_ms": 25.0, "median_tpot_ms": 12.0,
                               "output_throughput": 44.0}))  # fmt: skip
    (tmp_path / "notes.txt").write_text("not a record")
    [line] = fidelity.lines_from_records(tmp_path, SimpleNamespace(input_tokens=256, output_tokens=10))
    assert (line["concurrency"], line["requests"], line["complete"]) == (1, 2, False)
    ours, theirs = (fidelity.Round(**r) for r in line["rounds"])
    assert (ours.client, ours.hit_rate, theirs.client, theirs.hit_rate) == ("ours", None, "sglang.bench_serving", None)
    assert (ours.ttft_p50_ms, ours.tpot_p50_ms) == (30.0, 22.0)  # medians of (20, 40) and (10, 34) ms
    assert ours.output_tok_s == pytest.approx(22 / 0.5)  # 22 tokens over 100.0 .. 100.5 s
    assert (theirs.ttft_p50_ms, theirs.tpot_p50_ms, theirs.output_tok_s) == (25.0, 12.0, 44.0)


def test_waves_are_the_sends_in_blocks_of_the_concurrency_with_the_rounds_last_end(tmp_path, capsys):
    def record(i, start, e2e):
        return {"request_id": i, "start_unix_s": start, "ttft_ms": 5.0, "itl_ms": [], "e2e_ms": e2e,
                "prompt_tokens": 256, "completion_tokens": 1, "success": True}  # fmt: skip

    sends = [(100.0, 900.0), (100.02, 950.0), (101.1, 500.0), (100.95, 700.0), (102.0, 300.0)]  # c = 2: 2 + 2 + 1
    with gzip.open(tmp_path / "ours-c0002-r1.jsonl.gz", "wt") as sink:
        sink.write("".join(json.dumps(record(i, s, e)) + "\n" for i, (s, e) in enumerate(sends)))
    with gzip.open(tmp_path / "ours-c0001-r1.jsonl.gz", "wt") as sink:  # a loop of one has no waves: not shown
        sink.write(json.dumps(record(0, 100.0, 10.0)) + "\n")
    windows, end = fidelity.wave_windows(fidelity.read_records(tmp_path / "ours-c0002-r1.jsonl.gz"), 2)
    assert [(round(a, 2), round(b, 2)) for a, b in windows] == [(0.0, 0.02), (0.95, 1.1), (2.0, 2.0)]
    assert end == pytest.approx(2.3)  # the last send, 2.0 s in, ended 300 ms later
    fidelity.print_waves(tmp_path)
    assert capsys.readouterr().out == "c=2 round 1: waves sent at 0.00-0.02, 0.95-1.10, 2.00-2.00 s; last end 2.30 s\n"
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no ours-cNNNN"):
        fidelity.print_waves(tmp_path / "empty")


def test_a_records_folder_without_records_is_refused_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match="no ours-cNNNN"):
        fidelity.lines_from_records(tmp_path, SimpleNamespace(input_tokens=256, output_tokens=128))


def test_a_self_test_that_cannot_run_is_kept_as_its_error_and_the_check_goes_on(tmp_path):
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has a GPU: the self-test would run")
    found = fidelity.write_gpu_check(tmp_path)
    assert "nvidia-smi" in found["error"]
    assert json.loads((tmp_path / "gpu_check.json").read_text()) == found


def test_a_clients_output_comes_back_with_the_seconds_each_line_took():
    script = "import time; print('set up', flush=True); time.sleep(0.3); print('done'); raise SystemExit(3)"
    code, printed = fidelity.run_timed([sys.executable, "-c", script], {})
    first, second = printed.splitlines()
    assert code == 3 and first.endswith("] set up") and second.endswith("] done")
    assert float(second[1:].split(" s]")[0]) - float(first[1:].split(" s]")[0]) >= 0.3
