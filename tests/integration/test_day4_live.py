"""Day 4 for real on the CPU: llm-compressor quantizes SmolLM2 (AWQ and GPTQ, in its own venv),
vLLM serves the original and both checkpoints, and the gate's verdict lands in metrics.json."""

from __future__ import annotations

import pytest

from playbook.core.profiles import QualityGate
from playbook.days.quality import evaluate_gate, verdict
from tests.support.results import sized

pytestmark = pytest.mark.server


def test_day4_quantizes_serves_and_gates(machine_speed, run_day_notebook):
    metrics = run_day_notebook("day4_quantization.ipynb", "day04", machine_speed)
    assert metrics["status"] == "ok", metrics.get("failures")
    steps = metrics["steps"]
    assert steps["quantize_awq"]["job_record"]["cpu_pin_memory_workaround"] is True
    models = steps["models"]
    assert set(models) == {"original (float32)", "AWQ W4A16", "GPTQ W4A16"}  # no float16 original on this profile
    assert metrics["skipped"]["dtype_baseline"].startswith("days.day4.dtype_baseline is false")
    assert all(m["status"] == "ok" for m in models.values())
    original, awq = models["original (float32)"], models["AWQ W4A16"]
    assert awq["weight_memory_bytes"] < 0.3 * original["weight_memory_bytes"]
    # W4A16 where this CPU's vLLM build has the kernel (AVX512), else served dequantized (AVX2): said, not hidden
    serving = steps["quantized_serving"]
    assert serving["mode"] in ("w4a16", "dequantized") and serving["reason"]
    assert bool(awq["speed"]) == (serving["mode"] == "w4a16")
    assert awq["served_as"] == ("W4A16" if serving["mode"] == "w4a16" else "dequantized, float16")
    assert 1 < original["perplexity"] < awq["perplexity"] * 2  # a sane, finite perplexity for both
    assert steps["gate"]["verdicts"] == {"AWQ W4A16": "PASS", "GPTQ W4A16": "PASS"}
    assert steps["held_out"]["windows"] == sized(metrics, "perplexity_windows")  # sized on this machine

    # The same measurements against a gate tightened below what was measured: it must fail.
    tight = QualityGate(max_perplexity_increase_pct=0.0, min_greedy_agreement=1.0, max_accuracy_drop=0.0)
    assert verdict(evaluate_gate(original, awq, tight)) == "FAIL"
