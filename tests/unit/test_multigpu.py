"""Multi-GPU variants and their report: profiles that validate, the utilization that ran, a page that renders."""

import json
from pathlib import Path

import pytest

from playbook.reports.multigpu_page import effective_utilization, render
from playbook.run.multigpu import VARIANTS, variant_profile
from playbook.sizing.memory import plan_for
from playbook.sizing.models import prepare_model

REFERENCE = Path(__file__).parents[2] / "reference" / "h100x2-2026-11-25" / "multigpu.json"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_is_a_valid_profile_on_its_gpus(name):
    variant = VARIANTS[name]
    profile = variant_profile(variant, "/usr/bin/python3")
    spec = profile.engine_spec
    assert spec.tensor_parallel_size * spec.data_parallel_size == variant.gpus <= profile.hardware.count
    assert profile.engine == variant.engine
    assert spec.env["CUDA_VISIBLE_DEVICES"] == variant.visible_devices and spec.env["NCCL_NVLS_ENABLE"] == "0"
    plan = plan_for(profile, prepare_model(profile.model))
    assert plan.fits == (name != "llama70b-tp2-u095"), plan.problems  # 0.95 ran out of memory on 2 x H100


def test_effective_utilization_is_what_the_run_recorded_else_what_vllm_logged():
    vllm = {"engine": "vllm"}
    equivalent = "The current --gpu-memory-utilization=0.9200 is equivalent to --gpu-memory-utilization=0.9135"
    assert effective_utilization(vllm, equivalent, None) == 0.92
    non_default = "non-default args: {'dtype': 'bfloat16', 'gpu_memory_utilization': 0.95}"
    assert effective_utilization(vllm, non_default, None) == 0.95
    assert effective_utilization(vllm, "no such line", "0.24.0") == 0.92  # the release's default: no flag given
    assert effective_utilization(vllm, "no such line", "0.1.0") is None
    assert effective_utilization({**vllm, "gpu_memory_utilization": 0.8}, non_default, None) == 0.8
    assert effective_utilization({"engine": "sglang"}, non_default, None) is None  # SGLang logs no such line


def test_committed_reference_renders(tmp_path):
    summary = json.loads(REFERENCE.read_text())
    page = render(summary, tmp_path).read_text()
    for variant in summary["variants"]:
        assert variant["variant"] in page
    assert "Dummy weights" in page and "NV18" in page and "out of memory" in page


@pytest.mark.parametrize(("name", "flag"), [("qwen7b-sglang-tp2", "--tp-size"), ("qwen7b-sglang-dp2", "--dp-size")])
def test_sglangs_two_gpu_layouts_launch_with_its_own_flags_and_fit_per_gpu(name, flag):
    """SGLang TP2 and DP2 (the 2-GPU comparison, ready for a 2-GPU lease): SGLang's flag, not vLLM's, and the
    pre-flight per GPU: TP2 halves the weights on each card, DP2 keeps a whole copy on each."""
    from playbook.serving.launcher import build_command

    profile = variant_profile(VARIANTS[name], "/usr/bin/python3")
    argv = build_command(profile, "sglang", "m", 30000, key=None)
    assert argv[argv.index(flag) + 1] == "2" and "--tensor-parallel-size" not in argv
    single = plan_for(variant_profile(VARIANTS["qwen7b-sglang-tp1"], "/usr/bin/python3"), prepare_model(profile.model))
    plan = plan_for(profile, prepare_model(profile.model))
    assert plan.fits and "2 x" in plan.device
    if flag == "--tp-size":  # more KV room per card: the weights are split
        assert plan.kv_capacity_tokens > 2 * single.kv_capacity_tokens
    else:  # two replicas, each with a single card's room
        assert plan.kv_capacity_tokens == 2 * single.kv_capacity_tokens


def test_scaling_efficiency_is_against_twice_the_same_engines_one_gpu_run():
    """From the committed 2 x H100 run: DP2 at c=256 served 15,154 tok/s against one card's 9,086: 0.83 of
    perfect; the 70B (no one-GPU run of its own) is not scaled against the 7B."""
    from playbook.reports.multigpu_page import scaling_frame

    frame = scaling_frame(json.loads(REFERENCE.read_text()))
    assert set(frame.variant) == {"qwen7b-dp2", "qwen7b-tp2"}
    dp2 = frame[(frame.variant == "qwen7b-dp2") & (frame.concurrency == 256)].iloc[0]
    assert dp2.efficiency == pytest.approx(15154.26 / (2 * 9085.63), rel=1e-3)
