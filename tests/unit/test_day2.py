"""Day 2: speculative flags, the draft memory planner, acceptance and speedup arithmetic."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from playbook.core.errors import PreflightError, ProfileError
from playbook.core.profiles import SpecMethod, load_profile
from playbook.days import day2
from playbook.serving.engines import LaunchTarget, get_engine, sglang, vllm
from playbook.sizing.architecture import ModelShape, load_shape
from playbook.sizing.memory import GIB, check_fits, draft_shape, kv_bytes_per_token, plan_memory


def test_vllm_speculative_config_replaces_the_removed_flags():
    profile = day2.with_speculation(load_profile("cpu-smollm2"), load_profile("cpu-smollm2").days.day2.methods[0])
    argv = get_engine("vllm").argv(profile.engine_spec, LaunchTarget("m", "m", "127.0.0.1", 8000))
    assert "--speculative-model" not in argv and "--num-speculative-tokens" not in argv
    config = json.loads(argv[argv.index("--speculative-config") + 1])
    assert config == {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_min": 2, "prompt_lookup_max": 4}


def test_draft_model_config_and_sglang_flags():
    method = load_profile("h100-qwen2.5-7b").days.day2.methods[1]
    assert vllm.speculative_config(method) == {
        "method": "draft_model", "num_speculative_tokens": 5, "model": "Qwen/Qwen2.5-1.5B-Instruct"}  # fmt: skip
    args = sglang.speculative_args(method)
    assert args[:2] == ["--speculative-algorithm", "STANDALONE"]
    assert args[args.index("--speculative-draft-model-path") + 1] == "Qwen/Qwen2.5-1.5B-Instruct"


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"method": "draft_model"}, "needs draft_model"), ({"method": "eagle3"}, "needs draft_model"),
     ({"method": "ngram", "draft_model": "x"}, "uses no draft_model"),
     ({"method": "ngram", "prompt_lookup_min": 5, "prompt_lookup_max": 2}, "prompt_lookup_min 5 > prompt_lookup_max 2"),
     ({"method": "medusa"}, "method")],
)  # fmt: skip
def test_bad_speculative_methods_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        SpecMethod(name="m", **fields)


def test_unknown_method_in_a_profile_names_the_key():
    with pytest.raises(ProfileError, match=r"days\.day2\.methods\.0\.method"):
        load_profile("cpu-smollm2", ["days.day2.methods=[{name: x, method: medusa}]"])


def test_draft_adds_weights_and_kv_per_token():
    profile = load_profile("h100-qwen2.5-7b")
    target, draft = (ModelShape.from_config(load_shape(s)) for s in ("qwen2.5-7b", "qwen2.5-1.5b"))
    alone = plan_memory(target, profile.engine_spec, profile.hardware, 16)
    with_draft = plan_memory(target, profile.engine_spec, profile.hardware, 16, None, draft)
    assert with_draft.kv_bytes_per_token == kv_bytes_per_token(target, 2) + kv_bytes_per_token(draft, 2)
    assert with_draft.draft_weight_bytes == draft.parameter_count * 2
    assert with_draft.kv_capacity_tokens < alone.kv_capacity_tokens
    assert any("raise gpu_memory_utilization" in a or "max_num_seqs" in a for a in with_draft.advice)


def test_draft_that_does_not_fit_is_refused_with_the_arithmetic():
    """The article's advice (lower gpu_memory_utilization to 0.6) with a 7B target and 1.5B draft on 24 GB."""
    profile = load_profile("rtx4090-24g-awq", ["engines.vllm.gpu_memory_utilization=0.6", "model.weight_bits=16"])
    method = load_profile("h100-qwen2.5-7b").days.day2.methods[1]
    plan = plan_memory(ModelShape.from_config(load_shape("qwen2.5-7b")), profile.engine_spec, profile.hardware, 16,
                       None, draft_shape(method))  # fmt: skip
    assert plan.kv_budget_bytes < 0
    with pytest.raises(PreflightError, match=r"draft weights: 2\.88 GiB"):
        check_fits(plan)


def test_draft_shape_needed_for_a_hub_draft():
    method = SpecMethod(name="d", method="draft_model", draft_model="org/unknown-draft")
    with pytest.raises(PreflightError, match="set draft_shape"):
        draft_shape(method)


def test_acceptance_from_counters():
    before = day2.SpecCounters(10, 40, 20, (8.0, 6.0, 4.0, 2.0))
    after = day2.SpecCounters(110, 440, 260, (98.0, 76.0, 54.0, 32.0))
    acc = day2.Acceptance.from_counters(after.minus(before))
    assert acc.drafts == 100 and acc.acceptance_rate == pytest.approx(240 / 400)
    assert acc.mean_accepted_length == pytest.approx(1 + 240 / 100)
    assert acc.acceptance_by_position == pytest.approx([0.9, 0.7, 0.5, 0.3])


def test_lossless_match():
    assert day2.lossless_match([[1, 2], [3, 4]], [[1, 2], [3, 5]]) == 0.5


def test_speedup_table_and_generated_conclusion():
    measured = [("none", 1, 20.0), ("none", 16, 100.0), ("ngram-k4", 1, 30.0), ("ngram-k4", 16, 90.0)]
    rows = [{"method": m, "workload": "code-edit", "concurrency": c, "output_tok_s": t, "tpot_p50_ms": 10.0}
            for m, c, t in measured]  # fmt: skip
    frame = day2.speedup_table(rows)
    spec = frame[frame["method"] == "ngram-k4"].set_index("concurrency")["throughput_speedup"]
    assert spec[1] == pytest.approx(1.5) and spec[16] == pytest.approx(0.9)
    (line,) = day2.conclusion(frame)
    assert line == ("ngram-k4 on code-edit: output throughput 1.50x at c=1, 0.90x at c=16 vs no speculation; "
                    "pays (>= 1.05x) up to c=1.")  # fmt: skip
    assert isinstance(frame, pd.DataFrame) and GIB > 0


def test_code_edit_workload_copies_its_prompt():
    requests = day2.code_edit_requests(3, seed=0, output_tokens=32)
    assert all("def " in r.messages[0]["content"] for r in requests)
    assert requests == day2.code_edit_requests(3, seed=0, output_tokens=32)


def test_a_draft_cut_from_the_targets_first_layers(tmp_path):
    """draft_layers: the draft is the target's embeddings, first N layers, norm and tied head, with its tokenizer."""
    import torch
    from safetensors.torch import load_file, save_file

    from playbook.sizing.models import PreparedModel, first_layers_draft

    target = tmp_path / "tiny"
    target.mkdir()
    config = {"num_hidden_layers": 3, "hidden_size": 8, "num_attention_heads": 2, "num_key_value_heads": 1,
              "intermediate_size": 16, "vocab_size": 32, "tie_word_embeddings": True}  # fmt: skip
    (target / "config.json").write_text(json.dumps(config))
    (target / "tokenizer.json").write_text("{}")
    weights = {"model.embed_tokens.weight": torch.ones(32, 8), "model.norm.weight": torch.ones(8)}
    weights |= {f"model.layers.{i}.mlp.up_proj.weight": torch.full((16, 8), float(i)) for i in range(3)}
    save_file(weights, str(target / "model.safetensors"))
    prepared = PreparedModel("local", str(target), str(target), None, None, False, "")
    method = day2.resolve_draft(SpecMethod(name="d", method="draft_model", draft_layers=2), prepared)
    draft = tmp_path / "tiny-first2"
    assert method.draft_model == str(draft) and method.draft_layers is None
    assert sorted(load_file(str(draft / "model.safetensors"))) == [
        "model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weight",
        "model.norm.weight"]  # fmt: skip
    assert json.loads((draft / "config.json").read_text())["num_hidden_layers"] == 2
    assert (draft / "tokenizer.json").exists() and draft_shape(method).num_layers == 2
    with pytest.raises(Exception, match="draft_layers=3: the target has 3 layers; use 1 to 2"):
        first_layers_draft(target, 3)
    with pytest.raises(ValueError, match="draft_layers makes the draft of a draft_model method"):
        SpecMethod(name="n", method="ngram", draft_layers=2)


SGLANG_SPEC_METRICS = """\
# TYPE sglang:spec_accept_length gauge
sglang:spec_accept_length{model_name="qwen"} 2.75
# TYPE sglang:spec_accept_rate gauge
sglang:spec_accept_rate{model_name="qwen"} 0.4375
"""


def test_sglangs_acceptance_comes_from_its_gauges_vllms_from_counters(monkeypatch):
    """Day 2 reads acceptance through the engine's adapter: SGLang's gauges (no counts), vLLM's counters."""
    from types import SimpleNamespace

    from prometheus_client.parser import text_string_to_metric_families

    from playbook.days import day2
    from playbook.serving.engines import Sample

    recorded = [Sample(s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(SGLANG_SPEC_METRICS)
                for s in f.samples]  # fmt: skip
    monkeypatch.setattr(day2.serverinfo, "scrape", lambda server: recorded)
    sglang = SimpleNamespace(engine="sglang")
    before = day2.SpecCounters.read(sglang)
    acceptance = day2.Acceptance.measure(sglang, before)
    assert (acceptance.acceptance_rate, acceptance.mean_accepted_length) == (0.4375, 2.75)
    assert acceptance.drafts == 0 and acceptance.acceptance_by_position == []
    vllm_counts = [Sample("vllm:spec_decode_num_drafts_total", {}, 10.0),
                   Sample("vllm:spec_decode_num_draft_tokens_total", {}, 40.0),
                   Sample("vllm:spec_decode_num_accepted_tokens_total", {}, 30.0)]  # fmt: skip
    monkeypatch.setattr(day2.serverinfo, "scrape", lambda server: vllm_counts)
    vllm = day2.Acceptance.measure(SimpleNamespace(engine="vllm"), day2.SpecCounters(0, 0, 0, ()))
    assert (vllm.acceptance_rate, vllm.mean_accepted_length) == (0.75, 4.0)


def test_a_dtype_step_is_the_spacing_of_its_values_near_a_logit():
    assert day2.dtype_step("float16", 64.0) == 0.0625 and day2.dtype_step("bfloat16", 64.0) == 0.5
    assert day2.dtype_step("float16", 32.7) == 0.03125  # SmolLM2's first parting logit on the H200
    assert day2.dtype_step("float32", 64.0) == 2.0**-17 and day2.dtype_step("unknown", 64.0) == 2.0**-17


def test_a_parting_within_one_step_is_a_tie_a_wider_one_a_changed_token():
    """The speculative server scores both candidates after the shared prefix (SGLang's /generate reply shape)."""
    from playbook.serving.endpoint import Endpoint
    from tests.support.http import QuietHandler, serving

    last_token_logprob = {7: -0.50, 8: -0.52, 9: -1.75}  # 7 and 8 nearly tied, 9 far behind

    class Generate(QuietHandler):
        def do_POST(self):
            ids = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["input_ids"]
            entries = [[None, ids[0], None], *([-0.1, t, None] for t in ids[1:-1]), [last_token_logprob[ids[-1]],
                                                                                       ids[-1], None]]  # fmt: skip
            self.reply(200, json.dumps({"meta_info": {"input_token_logprobs": entries}}).encode())

    with serving(Generate) as url:
        endpoint, step = Endpoint(url, "m"), day2.dtype_step("float16", 64)
        assert day2.parting(endpoint, "sglang", [1, 2], [5, 7, 3], [5, 7, 3], step) is None  # identical
        tie = day2.parting(endpoint, "sglang", [1, 2], [5, 7, 3], [5, 8, 4], step)
        assert tie["token"] == 1 and tie["tie"] is True and tie["margin"] == pytest.approx(0.02)
        changed = day2.parting(endpoint, "sglang", [1, 2], [5, 7, 3], [5, 9, 3], step)
        assert changed["tie"] is False and changed["margin"] == pytest.approx(1.25)
    plain, spec = [[5, 7, 3], [1], [2]], [[5, 8, 4], [1], [3]]
    assert day2.lossless_share(plain, spec, [tie, None, changed]) == pytest.approx(2 / 3)  # one match, one tie
    record = day2.lossless_record(plain, day2.MethodRun("ngram-k4", [], 0, None, [], {}, spec, [tie, None, changed]))
    assert record["match_rate"] == pytest.approx(1 / 3) and record["ties"] == 1 and record["prompts"] == 3
    assert record["partings"] == [tie, changed] and record["lossless_share"] == pytest.approx(2 / 3)
    assert "a tie" in day2.parting_sentence("ngram-k4", tie, "float16")
    assert "a changed token" in day2.parting_sentence("ngram-k4", changed, "float16")


def test_a_parting_the_server_cannot_score_is_recorded_as_a_changed_token_not_a_lost_method():
    from playbook.serving.endpoint import Endpoint
    from tests.support.http import QuietHandler, serving

    class Refusing(QuietHandler):
        def do_POST(self):
            self.reply(400, b'{"error": "return_logprob is not supported"}')

    with serving(Refusing) as url:
        parted = day2.parting(Endpoint(url, "m"), "sglang", [1, 2], [5, 7, 3], [5, 8, 4], 0.0625)
    assert parted["token"] == 1 and parted["tie"] is False and "400" in parted["error"]
    assert "margin" not in parted and "not scored" in day2.parting_sentence("ngram-k4", parted, "float16")
    assert day2.lossless_share([[5, 7, 3]], [[5, 8, 4]], [parted]) == 0.0
