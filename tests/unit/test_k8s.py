"""Day 5 manifests: every profile renders valid manifests; the article's does not; secrets stay out."""

import copy
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

from playbook.core.profiles import list_profiles, load_profile
from playbook.days.day5 import ARTICLE_MANIFEST
from playbook.serving import k8s

REPO = Path(__file__).parents[2]
ARTICLE_ISVC = ARTICLE_MANIFEST  # the source article's InferenceService, as published


def every_rendering():
    for name in list_profiles():
        profile = load_profile(name)
        for engine in profile.engines:
            for flavor in ("kserve", "deployment"):
                yield pytest.param(name, engine, flavor, id=f"{name}-{engine}-{flavor}")


@pytest.mark.parametrize(("name", "engine", "flavor"), list(every_rendering()))
def test_every_profile_renders_valid_manifests(name, engine, flavor):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        documents = k8s.render(load_profile(name), flavor, engine)
    # only mi300x-rocm pins an image of another vLLM release (ROCm's vLLM 0.10.1) than the flags are for
    expected = name == "mi300x-rocm" and engine == "vllm"
    assert [w.category for w in caught] == ([k8s.EngineReleaseWarning] if expected else [])
    assert k8s.validate_all(documents) == []
    assert yaml.safe_load_all(k8s.to_yaml(documents))  # round-trips as YAML


def test_the_articles_manifest_fails_for_the_right_reasons():
    problems = k8s.validate_all([yaml.safe_load(ARTICLE_ISVC)])
    text = "\n".join(problems)
    assert "serving.kserve.io/v1beta1" in text and "not pinned" in text
    assert "no startupProbe" in text and "/dev/shm" in text


def test_schema_errors_are_caught_in_core_kinds_and_the_predictor():
    documents = k8s.render(load_profile("h100-qwen2.5-7b"), "deployment")
    broken = copy.deepcopy(documents[1])
    broken["spec"]["template"]["spec"]["containers"][0]["gpus"] = 1  # not a Container field
    assert any("gpus" in e for e in k8s.validate(broken).errors)
    isvc = k8s.render(load_profile("h100-qwen2.5-7b"), "kserve")[1]
    isvc["spec"]["predictor"]["replicas"] = 2  # KServe has minReplicas/maxReplicas, not replicas
    isvc["spec"]["predictor"]["containers"][0]["ports"] = "8000"  # a Container's ports are a list
    errors = "\n".join(k8s.validate(isvc).errors)
    assert "replicas: not a field of KServe V1beta1PredictorSpec" in errors and "(as PodSpec)" in errors


def test_gpus_probes_and_placement_follow_the_profile():
    profile = load_profile("h100x2-llama-70b-dummy")
    isvc = k8s.render(profile, "kserve")[1]
    predictor = isvc["spec"]["predictor"]
    container = predictor["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert "--tensor-parallel-size" in container["args"] and "--load-format" in container["args"]
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= profile.server.startup_timeout_s
    assert predictor["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert predictor["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    with pytest.warns(k8s.EngineReleaseWarning, match="runs vllm 0.10"):
        amd = k8s.render(load_profile("mi300x-rocm"), "deployment")[1]["spec"]["template"]["spec"]
    assert (
        "amd.com/gpu" in amd["containers"][0]["resources"]["limits"] and amd["tolerations"][0]["key"] == "amd.com/gpu"
    )


def test_secrets_are_referenced_never_inlined(monkeypatch):
    monkeypatch.setenv("PLAYBOOK_TEST_KEY", "sk-do-not-print-me")
    profile = load_profile("h100-qwen2.5-7b", ["server.api_key_env=PLAYBOOK_TEST_KEY"])
    text = k8s.to_yaml(k8s.render(profile, "deployment"))
    assert "sk-do-not-print-me" not in text
    env = yaml.safe_load_all(text)
    container = next(d for d in env if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    by_name = {e["name"]: e for e in container["env"]}
    assert by_name["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "hf-token"
    assert by_name["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "vllm-api-key", "key": "key"}


def test_cli_validate_exits_nonzero_on_the_articles_manifest(tmp_path):
    bad = tmp_path / "article.yaml"
    bad.write_text(ARTICLE_ISVC)
    good = tmp_path / "good.yaml"
    good.write_text(k8s.to_yaml(k8s.render(load_profile("cpu-smollm2"), "kserve")))
    cli = [sys.executable, "-m", "playbook.cli", "k8s", "validate"]
    assert subprocess.run([*cli, str(good)], capture_output=True, text=True).returncode == 0
    result = subprocess.run([*cli, str(bad)], capture_output=True, text=True)
    assert result.returncode == 1 and "v1beta1" in result.stderr


def test_workflows_pass_actionlint_and_a_broken_one_does_not(tmp_path):
    actionlint = Path(sys.executable).parent / "actionlint"
    workflows = sorted((REPO / ".github" / "workflows").glob("*.yml"))
    assert workflows
    ok = subprocess.run([str(actionlint), *map(str, workflows)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
    broken = tmp_path / "broken.yml"
    broken.write_text(workflows[0].read_text().replace("runs-on: ubuntu-24.04", "runs-on: [ubuntu-24.04"))
    assert subprocess.run([str(actionlint), str(broken)], capture_output=True).returncode != 0
