"""The profile schema: every shipped profile validates; bad input names the key."""

from __future__ import annotations

import pytest
import yaml

from playbook.core.errors import ProfileError
from playbook.core.profiles import Profile, list_profiles, load_profile, parse_overrides

SHIPPED = ["cpu-smollm2", "h100-qwen2.5-7b", "rtx4090-24g-awq", "a100-40g", "mi300x-rocm"]


def test_every_required_profile_is_shipped():
    assert set(SHIPPED) <= set(list_profiles())


@pytest.mark.parametrize("name", list_profiles())
def test_shipped_profiles_validate_and_round_trip(name):
    profile = load_profile(name)
    dumped = yaml.safe_load(yaml.safe_dump(profile.model_dump(mode="json")))
    assert Profile.model_validate(dumped) == profile


def test_article_setup_in_h100_profile():
    spec = load_profile("h100-qwen2.5-7b").engines["vllm"]
    assert (spec.dtype, spec.gpu_memory_utilization, spec.max_model_len) == ("bfloat16", 0.85, 8192)


def test_cpu_default_serves_float32():
    assert load_profile("cpu-smollm2").engines["vllm"].dtype == "float32"


def write(tmp_path, data):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def raw():
    return yaml.safe_load(open(load_profile.__globals__["PARAMS_DIR"] / "cpu-smollm2.yaml"))


def test_unknown_key_is_named(tmp_path, raw):
    raw["engines"]["vllm"]["gpu_mem_util"] = 0.5
    with pytest.raises(ProfileError, match=r"engines\.vllm\.gpu_mem_util: unknown key"):
        load_profile(write(tmp_path, raw))


def test_bad_value_is_named(tmp_path, raw):
    raw["engines"]["vllm"]["gpu_memory_utilization"] = 1.5
    with pytest.raises(ProfileError, match=r"engines\.vllm\.gpu_memory_utilization"):
        load_profile(write(tmp_path, raw))


def test_engine_without_settings_is_refused(tmp_path, raw):
    raw["engine"] = "sglang"
    with pytest.raises(ProfileError, match="engine='sglang' has no entry under engines"):
        load_profile(write(tmp_path, raw))


def test_unknown_engine_is_refused(tmp_path, raw):
    raw["engine"] = "llamacpp"
    with pytest.raises(ProfileError, match="engine"):
        load_profile(write(tmp_path, raw))


def test_attach_is_a_mode_of_an_engine_not_an_engine():
    with pytest.raises(ProfileError, match=r"engine='attach' is no engine.*server.base_url"):
        load_profile("cpu-smollm2", ["engine=attach"])
    attached = load_profile("cpu-smollm2", ["server.base_url=http://127.0.0.1:9"])
    assert attached.attached and attached.engine == "vllm"
    assert not load_profile("cpu-smollm2").attached


def test_bad_base_url():
    with pytest.raises(ProfileError, match="http:// or https://"):
        load_profile("cpu-smollm2", ["server.base_url=localhost:8000"])


def test_latest_image_is_refused():
    with pytest.raises(ProfileError, match="pinned tag"):
        load_profile("h100-qwen2.5-7b", ["engines.vllm.image=vllm/vllm-openai:latest"])


def test_model_source_needs_its_fields():
    with pytest.raises(ProfileError, match=r"model.source='hub' needs model.hub_id"):
        load_profile("cpu-smollm2", ["model.source=hub"])


def test_port_range():
    with pytest.raises(ProfileError, match="port"):
        load_profile("cpu-smollm2", ["server.port=70000"])


def test_overrides_are_yaml_typed_and_validated():
    profile = load_profile("cpu-smollm2", ["engines.vllm.dtype=bfloat16", "engines.vllm.max_model_len=1024"])
    assert profile.engine_spec.dtype == "bfloat16"
    assert profile.engine_spec.max_model_len == 1024
    with pytest.raises(ProfileError, match="dtype"):
        load_profile("cpu-smollm2", ["engines.vllm.dtype=fp64"])


def test_malformed_override():
    with pytest.raises(ProfileError, match=r"key\.path=value"):
        parse_overrides(["no-equals-sign"])


def test_unknown_profile_lists_known():
    with pytest.raises(ProfileError, match=r"known profiles: .*cpu-smollm2"):
        load_profile("does-not-exist")


def test_invalid_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(path)


def test_every_gpu_profile_compares_on_three_rounds_a_level():
    """A GPU comparison reports a median and a spread, and calls no winner inside it (issue #31): 3 rounds."""
    from playbook.core.profiles import REPO_ROOT

    for path in sorted((REPO_ROOT / "params").glob("*.yaml")):
        profile = load_profile(path.stem)
        if profile.hardware.accelerator == "nvidia":
            assert profile.days.day7.rounds >= 3, path.name
