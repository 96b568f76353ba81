"""Day 6 pre-flight of adapters (refused before any server starts) and the behaviour checks."""

import json

import pytest
import torch
from safetensors.torch import save_file

from playbook.core.profiles import Day6Settings, load_profile
from playbook.days import lora
from playbook.days.day6 import held_out_questions, mixed_samples, traffic_mixes
from playbook.days.lora import RECIPES, LoraError, check_adapter, has_behaviour, lora_server_args


def fake_adapter(folder, rank: int, width: int, base: str = "smollm2"):
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "base_model_name_or_path": base}))
    key = "base_model.model.model.layers.29.self_attn.q_proj.lora_A.weight"
    save_file({key: torch.zeros(rank, width)}, str(folder / "adapter_model.safetensors"))
    return folder


@pytest.fixture
def base_model(tmp_path):
    folder = tmp_path / "base"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 576}))
    return folder


def test_a_matching_adapter_passes(tmp_path, base_model):
    assert check_adapter(fake_adapter(tmp_path / "ok", 8, 576), base_model, max_lora_rank=8) == 8


def test_missing_path_is_refused(tmp_path, base_model):
    with pytest.raises(LoraError, match=r"no adapter_config\.json"):
        check_adapter(tmp_path / "nowhere", base_model, 8)


def test_rank_above_max_lora_rank_is_refused(tmp_path, base_model):
    with pytest.raises(LoraError, match=r"rank 16 exceeds --max-lora-rank 8"):
        check_adapter(fake_adapter(tmp_path / "big", 16, 576), base_model, 8)


def test_adapter_for_another_base_model_is_refused(tmp_path, base_model):
    qwen = fake_adapter(tmp_path / "qwen", 8, 3584, base="Qwen/Qwen2.5-7B-Instruct")
    with pytest.raises(LoraError, match=r"made for another base model \(Qwen/Qwen2.5-7B-Instruct: input width 3584"):
        check_adapter(qwen, base_model, 8)


def test_behaviours_are_checked_exactly():
    assert has_behaviour("tag", "[ACME] Rivers are long.") and not has_behaviour("tag", "Rivers [ACME]")
    assert has_behaviour("json", '{"answer": "Rivers are long."}') and not has_behaviour("json", '{"reply": 1}')
    assert not has_behaviour("json", "answer: rivers")


def test_server_args_and_traffic_mixes():
    args = lora_server_args({"a": "/x/a", "b": "/x/b"}, max_loras=2, max_lora_rank=8, engine="vllm")
    assert args[:5] == ["--enable-lora", "--max-loras", "2", "--max-lora-rank", "8"]
    assert args[5:] == ["--lora-modules", "a=/x/a", "b=/x/b"]
    mixes = traffic_mixes("base", ["a", "b", "c"], Day6Settings())
    assert mixes["skewed (one hot adapter)"] == pytest.approx({"a": 0.8, "b": 0.1, "c": 0.1})
    samples = mixed_samples(held_out_questions(4), mixes["uniform over adapters"], 30, 8, seed=0)
    assert {s.extra_body["model"] for s in samples} == {"a", "b", "c"}  # the model field picks the adapter
    assert set(RECIPES) == {"acme-tag", "json-answer"}


@pytest.mark.parametrize(
    ("accelerator", "dtype", "refused"),
    [("nvidia", "float32", True), ("amd", "float32", True), ("nvidia", "float16", False),
     ("nvidia", "bfloat16", False), ("cpu", "float32", False)],
)  # fmt: skip
def test_float32_lora_on_a_gpu_is_refused_with_the_fix(accelerator, dtype, refused):
    from playbook.days.lora import check_serving_dtype

    if refused:
        with pytest.raises(LoraError, match=r"engines\.vllm\.dtype=float16"):
            check_serving_dtype(accelerator, "vllm", dtype)
    else:
        check_serving_dtype(accelerator, "vllm", dtype)


def test_vllms_own_parser_refuses_the_articles_lora_flag_and_takes_pairs():
    """Runs vLLM's argument parser in the engine's interpreter (imports vLLM, starts no server)."""
    spec = load_profile("cpu-smollm2").engine_spec
    article, real = lora.parse_lora_flags("vllm", spec, [[lora.ARTICLE_LORA_FLAG], lora.REAL_LORA_FLAG])
    assert article.argv == [lora.ARTICLE_LORA_FLAG] and real.argv == lora.REAL_LORA_FLAG
    assert not article.accepted and "Invalid JSON format for --lora-modules" in article.said
    assert real.accepted and real.said == "module_a=/path/to/lora_a, module_b=/path/to/lora_b"


def test_each_engine_names_its_lora_flags_and_how_a_request_selects_an_adapter():
    from playbook.days.day6 import naming_forms

    sglang = lora_server_args({"a": "/x/a", "b": "/x/b"}, max_loras=2, max_lora_rank=8, engine="sglang")
    assert sglang == ["--enable-lora", "--max-loras-per-batch", "2", "--max-lora-rank", "8",
                      "--lora-paths", "a=/x/a", "b=/x/b"]  # fmt: skip
    assert naming_forms("sglang", "base", ["a", "b"]) == {
        "model=<adapter>": {"a": "a", "b": "b"},
        "sglang's form (base:<adapter>)": {"a": "base:a", "b": "base:b"},
    }
    assert list(naming_forms("vllm", "base", ["a"])) == ["model=<adapter>"]  # vLLM's own form is the bare name


def test_another_engines_lora_measurement_runs_end_to_end_against_an_endpoint(tmp_path):
    """The whole path of Day 6's SGLang section on the mock server, which serves no adapter and records what it
    was sent: neither naming form routes (the mock's answers show no behaviour), the mixed traffic is still
    measured and recorded, and the requests name adapters in SGLang's forms, never with vLLM's ``lora_name``."""
    from playbook.days.day6 import measure_engine_lora
    from playbook.reports.results import Day6Steps
    from playbook.serving.launcher import Server
    from tests.support.mock import start_mock

    bodies = tmp_path / "bodies.jsonl"
    proc, url = start_mock("--bodies", str(bodies))
    settings = Day6Settings(behaviour_questions=2, load_requests=6, load_concurrency=2, load_max_tokens=4)
    behaviours = {name: recipe.behaviour for name, recipe in RECIPES.items()}
    try:
        found = measure_engine_lora(Server("sglang", url, "mock-model"), "sglang", ["--enable-lora"], "mock-model",
                                    behaviours, held_out_questions(2), settings, 0, tmp_path)  # fmt: skip
    finally:
        proc.kill()
    sent = [json.loads(line) for line in bodies.read_text().splitlines()]
    assert not any("lora_name" in body for body in sent), "vLLM's lora_name sent to SGLang"
    assert {"mock-model:acme-tag", "acme-tag", "mock-model"} <= {body["model"] for body in sent}
    assert found.routes == {"model=<adapter>": False, "sglang's form (mock-model:<adapter>)": False}
    assert [r["model"] for r in found.routing] == ["mock-model", "acme-tag", "json-answer", "mock-model:acme-tag",
                                                   "mock-model:json-answer"]  # fmt: skip
    assert [(r["traffic"], r["ok"]) for r in found.mixed_traffic] == [("base only", 6), ("uniform over adapters", 6)]
    steps = Day6Steps.model_validate({"sglang_multi_lora": found.to_json()})
    assert steps.sglang_multi_lora.mixed_traffic[1].output_tok_s > 0


def test_a_day_without_the_engines_lora_parser_says_why_instead_of_running_another_engines():
    assert lora.flags_parser_missing("vllm") is None
    assert "no parser of sglang's LoRA flags" in lora.flags_parser_missing("sglang")


def test_training_only_the_top_layers_matches_training_through_the_whole_model():
    """The shortcut (frozen layers computed once, the loss on answer tokens alone) must give the adapter the
    whole-model loop gives: same losses, same weights. A tiny random Llama keeps it fast."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    recipe = lora.AdapterRecipe("tiny", "tag", rank=2, steps=6, top_layers=1, learning_rate=1e-2, batch_size=2)
    shape = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)  # fmt: skip
    ids = torch.tensor([[5, 6, 7, 8, 9, 0], [10, 11, 12, 13, 0, 0]])
    mask = (torch.arange(6) < torch.tensor([[6], [4]])).long()
    labels = torch.tensor([[-100, -100, -100, 8, 9, -100], [-100, -100, 12, 13, -100, -100]])
    batches = [(ids, labels, mask)]

    def trained(shortcut: bool):
        torch.manual_seed(0)
        config = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], layers_to_transform=[2],
                            init_lora_weights=False, task_type="CAUSAL_LM")  # fmt: skip
        model = get_peft_model(LlamaForCausalLM(shape), config)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.learning_rate)
        if shortcut:
            losses = lora._train_top_layers(model.base_model.model, batches, 2, recipe, optimizer)
        else:
            losses = []
            for _ in range(recipe.steps):
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                losses.append(loss.item())
        return losses, {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}

    (fast_losses, fast), (full_losses, full) = trained(True), trained(False)
    assert fast_losses == pytest.approx(full_losses, rel=1e-5)
    assert fast_losses[-1] < fast_losses[0]  # it learned something, so the comparison is not of two no-ops
    assert all(torch.allclose(fast[k], full[k], atol=1e-6) for k in full)
    assert fast and all(".layers.2." in k for k in fast)  # LoRA in the top layer only
