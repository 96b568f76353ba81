"""Bad input gets a clear error before anything expensive starts.

One row per bad input: what the user did, and the exact words of the error they get.
None of these starts a server (the memory rows use shape presets, not weights). The
README's "What happens when..." section is written from this table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from playbook.core.errors import (
    EngineNotInstalledError,
    ModelPrepareError,
    OutputNotWritableError,
    PlaybookError,
    PreflightError,
    ProfileError,
)
from playbook.core.profiles import load_profile
from playbook.days.lora import LoraError, check_serving_dtype
from playbook.days.quantize import QuantizationConfigError, check_group_size, check_interpreter
from playbook.load.datasets import build_requests
from playbook.load.loadgen import LoadConfig
from playbook.reports.layout import ensure_writable
from playbook.run.runner import parse_days, preflight
from playbook.serving import k8s
from playbook.serving.capabilities import cpu_parallelism_problem, numa_nodes
from playbook.serving.endpoint import api_key
from playbook.serving.launcher import build_command
from playbook.sizing.architecture import ModelShape, load_shape
from playbook.sizing.memory import check_fits, plan_memory
from playbook.sizing.models import prepare_model


def plan(profile_name: str, overrides: list[str], shape: str = "qwen2.5-7b", bits: int = 16):
    profile = load_profile(profile_name, overrides)
    model = ModelShape.from_config(load_shape(shape))
    return check_fits(plan_memory(model, profile.engine_spec, profile.hardware, bits))


def unwritable() -> None:
    blocker = Path("/proc/version")  # a file: nothing can be created under it
    ensure_writable(blocker / "outputs")


def profile_file(text: bytes) -> Path:
    """A profile written to a temporary file (the table's rows are built at import time, so no tmp_path)."""
    import tempfile

    path = Path(tempfile.mkdtemp()) / "profile.yaml"
    path.write_bytes(text)
    return path


CPU_YAML = (Path(__file__).resolve().parents[2] / "params" / "cpu-smollm2.yaml").read_bytes()


def config_folder(config: bytes | str) -> Path:
    """A model folder holding only this config.json."""
    import tempfile

    folder = Path(tempfile.mkdtemp())
    (folder / "config.json").write_bytes(config if isinstance(config, bytes) else config.encode())
    return folder


def cpu(*overrides: str):
    return load_profile("cpu-smollm2", list(overrides))


def h100(*overrides: str):
    return load_profile("h100-qwen2.5-7b", list(overrides))


SMOLLM2_SHAPE = ModelShape(30, 576, 9, 3, 64, 1536, 49152, True, 8192, "float32")
NGRAM_UPSIDE_DOWN = "days.day2.methods=[{name: m, method: ngram, prompt_lookup_min: 5, prompt_lookup_max: 2}]"

BAD_INPUTS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    ("unknown key in a profile", lambda: cpu("engines.vllm.gpu_mem=0.5"),
     ProfileError, r"engines\.vllm\.gpu_mem: unknown key"),
    ("wrong type", lambda: cpu("engines.vllm.max_model_len=lots"),
     ProfileError, r"engines\.vllm\.max_model_len: Input should be a valid integer"),
    ("gpu_memory_utilization above 1", lambda: cpu("engines.vllm.gpu_memory_utilization=1.2"),
     ProfileError, r"gpu_memory_utilization: Input should be less than or equal to 1"),
    ("unknown profile", lambda: load_profile("h100"), ProfileError, r"profile 'h100' not found; known profiles: "),
    ("port out of range", lambda: cpu("server.port=0"), ProfileError, r"port must be 1\.\.65535"),
    ("base_url without a scheme", lambda: cpu("server.base_url=localhost:8000"),
     ProfileError, r"base_url must start with http:// or https://"),
    ("unpinned container image", lambda: h100("engines.vllm.image=vllm/vllm-openai"),
     ProfileError, r"must carry a pinned tag"),
    ("unknown speculative method", lambda: cpu("days.day2.methods=[{name: m, method: medusa}]"),
     ProfileError, r"days\.day2\.methods\.0\.method: Input should be 'ngram', 'draft_model'"),
    ("ngram lookup window upside down", lambda: cpu(NGRAM_UPSIDE_DOWN),
     ProfileError, r"prompt_lookup_min 5 > prompt_lookup_max 2"),
    ("max_model_len beyond the model's", lambda: plan("h100-qwen2.5-7b", ["engines.vllm.max_model_len=65536"]),
     PreflightError, r"max_model_len 65536 exceeds the model's max_position_embeddings 32768"),
    ("model that does not fit", lambda: plan("rtx4090-24g-awq", [], "llama-3.1-70b", 16),
     PreflightError, r"weights alone \(131\.4 GiB\) exceed 1 x 23\.6 GiB x 0\.9"),
    ("KV cache smaller than one sequence", lambda: plan("a100-40g", ["engines.vllm.gpu_memory_utilization=0.42"]),
     PreflightError, r"fewer than one sequence of max_model_len 8192"),
    ("missing local model folder", lambda: prepare_model(cpu("model.source=local", "model.path=/no/model").model),
     ModelPrepareError, r"model\.path /no/model has no config\.json"),
    ("unknown shape preset", lambda: load_shape("gpt-5"), ModelPrepareError, r"unknown model\.shape 'gpt-5'; known: "),
    ("engine interpreter not installed",
     lambda: build_command(h100("engines.sglang.python=.venvs/none/bin/python"), "sglang", "m", 1),
     EngineNotInstalledError, r"interpreter \.venvs/none/bin/python does not exist"),
    ("API key variable named but unset", lambda: api_key(cpu("server.api_key_env=PLAYBOOK_UNSET_KEY_VAR")),
     PlaybookError, r"server\.api_key_env names PLAYBOOK_UNSET_KEY_VAR, but that environment variable is not set"),
    ("negative concurrency", lambda: LoadConfig(concurrency=-4),
     ValidationError, r"concurrency\n  Input should be greater than or equal to 1"),
    ("open loop without a rate", lambda: LoadConfig(concurrency=4, mode="open"),
     ValidationError, r"mode='open' needs request_rate"),
    ("unknown dataset", lambda: build_requests("alpaca", 1, 0), PlaybookError,
     r"unknown dataset 'alpaca'; known: sharegpt, synthetic, shared-prefix"),
    ("unknown day", lambda: parse_days("1,9"), PlaybookError, r"unknown day\(s\) \[9\]; available: "),
    ("outputs folder not writable", unwritable, OutputNotWritableError, r"is not writable"),
    ("quantization group size no kernel takes", lambda: cpu("days.day4.group_size=100"),
     ProfileError, r"days\.day4\.group_size: Input should be 32, 64 or 128"),
    ("unknown quantization method", lambda: cpu("days.day4.methods=[fp8]"),
     ProfileError, r"days\.day4\.methods\.0: Input should be 'awq' or 'gptq'"),
    ("group size that leaves a partial group", lambda: check_group_size(128, SMOLLM2_SHAPE),
     QuantizationConfigError, r"hidden_size \(q/k/v, gate/up inputs\) = 576 = 4\.5 x 128.*Use group_size=64"),
    ("quantizer environment missing", lambda: check_interpreter(cpu("days.day4.quant_python=.venvs/no/py").days.day4),
     QuantizationConfigError, r"days\.day4\.quant_python \.venvs/no/py does not exist: `make setup`"),
    ("GPU profile serving LoRA in float32", lambda: check_serving_dtype("nvidia", "vllm", "float32"),
     LoraError, r"LoRA kernels on a GPU take float16 or bfloat16 weights only"),
    ("sharing a GPU beyond what it has", lambda: h100("days.day5.sharing_fractions=[0.6, 0.4]"),
     ProfileError, r"sharing_fractions sum to 1\.00: more than 0\.95 of one GPU"),
    ("a key written twice in a profile", lambda: load_profile(profile_file(CPU_YAML + b"\nseed: 1\nseed: 2\n")),
     ProfileError, r"duplicate key 'seed' \(the later one would silently win\)"),
    ("a profile that is not UTF-8", lambda: load_profile(profile_file(b"name: caf\xe9\n")),
     ProfileError, r"is not UTF-8 text .*: save it as UTF-8"),
    ("infinite memory", lambda: cpu("hardware.memory_gib=.inf"),
     ProfileError, r"hardware\.memory_gib: Input should be a finite number"),
    ("a broken config.json", lambda: ModelShape.from_folder(config_folder(b"{not json")),
     ModelPrepareError, r"config\.json cannot be read as JSON"),
    ("a config.json without the layer count", lambda: ModelShape.from_folder(config_folder('{"hidden_size": 8}')),
     ModelPrepareError, r"lacks num_hidden_layers, num_attention_heads, intermediate_size, vocab_size"),
    ("zero KV heads in a config",
     lambda: ModelShape.from_config({**load_shape("qwen2.5-7b"), "num_key_value_heads": 0}),
     ModelPrepareError, r"num_key_value_heads=0 must be a whole number >= 1"),
    ("a shape name that walks out of its folder", lambda: load_shape("../../../etc/passwd"),
     ModelPrepareError, r"unknown model\.shape '\.\./\.\./\.\./etc/passwd'"),
    ("tensor parallel that does not divide the heads",
     lambda: plan("h100-qwen2.5-7b", ["hardware.count=3", "engines.vllm.tensor_parallel_size=3"]),
     PreflightError, r"tensor_parallel_size 3 does not divide the model's 28 attention heads"),
    ("--days with no day in it", lambda: parse_days(","), PlaybookError, r"--days ',' names no day"),
    ("a profile name that makes no Kubernetes name", lambda: k8s.render(cpu("name=Caf\u00e9 profile")),
     k8s.ManifestError, r"makes no Kubernetes name"),
    ("an engine no adapter is registered for",
     lambda: build_command(cpu("engine=tgi", "engines.tgi.python=x"), "tgi", "m", 1),
     PlaybookError, r"unknown engine 'tgi'; known: sglang, trtllm, vllm"),
    ("engine: attach (now a mode, not an engine)", lambda: cpu("engine=attach"),
     ProfileError, r"engine='attach' is no engine: name the engine that serves the endpoint"),
    ("a key written into an engine's environment", lambda: cpu("engines.vllm.env={HF_TOKEN: hf_abcdefghijklmnop}"),
     ProfileError, r"engines\.vllm\.env: Value error, HF_TOKEN holds a secret in clear text.*server\.api_key_env"),
    ("a key-shaped value under an innocent name", lambda: cpu("engines.vllm.env={EXTRA: sk-abcdefghijklmnopqrst}"),
     ProfileError, r"EXTRA holds a secret in clear text"),
    ("--api-key in extra_args", lambda: cpu("engines.vllm.extra_args=[--api-key, s3cret]"),
     ProfileError, r"--api-key puts a key on the command line, where ps and every report show it"),
    ("a key-shaped extra argument", lambda: cpu("engines.vllm.extra_args=[--foo=sk-abcdefghijklmnopqrst]"),
     ProfileError, r"item 0 puts a key on the command line"),
    ("tensor parallel 2 on a CPU machine with one NUMA node",
     lambda: preflight(cpu("engines.vllm.tensor_parallel_size=2"), [1]) if numa_nodes() == 1 else plan_cpu_tp(),
     PreflightError, r"tensor x pipeline parallel = 2 ranks on the CPU, but this machine has 1 NUMA node"),
]  # fmt: skip


def plan_cpu_tp():
    """On a machine with several NUMA nodes the same rule, asked for one node."""
    raise PreflightError(cpu_parallelism_problem(2, 1, nodes=1))


def test_the_table_covers_at_least_fifteen_inputs():
    assert len(BAD_INPUTS) >= 15


@pytest.mark.parametrize(("what", "call", "error", "message"), BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_fails_early_with_a_clear_message(what, call, error, message):
    with pytest.raises(error, match=message):
        call()
