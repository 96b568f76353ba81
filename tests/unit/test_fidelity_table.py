"""benchmarks/gpu/fidelity_sglang.py: the fidelity table is read from fidelity.jsonl, so a check cut at its call's
wait still yields the rows of its finished levels."""

import importlib.util
import json
import math
import sys

import pytest

from playbook.core.profiles import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))  # the script imports benchmarks/_common.py as a top-level module
spec = importlib.util.spec_from_file_location(
    "fidelity_sglang", REPO_ROOT / "benchmarks" / "gpu" / "fidelity_sglang.py"
)
fidelity = importlib.util.module_from_spec(spec)
sys.modules["fidelity_sglang"] = fidelity  # its dataclasses look their module up
spec.loader.exec_module(fidelity)


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
    assert row[:2] == [64, 256]
    assert row[2:8] == [20, 5, 110, 20, 5, 100]
    assert row[8:11] == [1.0, 1.0, 1.1]
    assert row[11:] == [0.0, 0.02]


def test_a_level_one_client_never_finished_has_no_ratio_rather_than_a_wrong_one():
    line = {"engine": "sglang", "concurrency": 1, "requests": 16, "rounds": [round_of("ours", 10, 5, 100)]}
    row = fidelity.level_row(line)
    assert all(math.isnan(value) for value in row[5:11])


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
