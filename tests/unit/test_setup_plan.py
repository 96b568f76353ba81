"""Setup per environment: a GPU profile's plan (and `make -n setup`) holds no CPU lock, no --no-deps install over
another environment's venv, and one venv per engine, each from a tool-made lock with hashes."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from playbook.core.errors import PlaybookError
from playbook.core.profiles import REPO_ROOT, load_profile
from playbook.run import setup

GPU_PROFILES = ["h100-qwen2.5-7b", "h100-qwen2.5-7b-dummy", "h100x2-qwen2.5-7b-dummy", "h100-smollm2", "a100-40g"]


@pytest.mark.parametrize("name", GPU_PROFILES)
def test_a_gpu_plan_has_no_cpu_lock_and_one_venv_per_engine(name):
    envs = setup.plan(load_profile(name))
    lines = setup.shell_lines(envs)
    assert not any("cpu.lock" in line or "quant.lock" in line or "--no-deps -r" in line for line in lines)
    assert not any(line.endswith("--no-deps") and " -r " in line for line in lines)
    venvs = [env.venv for env in envs]
    assert len(venvs) == len(set(venvs)) and venvs[0] == ".venv"
    assert {env.name for env in envs[1:]} >= {"vllm"}


def test_the_cpu_default_keeps_its_locks():
    envs = setup.plan(load_profile("cpu-smollm2"))
    assert [(env.venv, env.lock) for env in envs] == [(".venv", "cpu.lock.txt"), (".venvs/quant", "quant.lock.txt")]


def test_an_engine_sharing_the_kernels_venv_is_refused():
    profile = load_profile("h100-qwen2.5-7b", ["engines.vllm.python=.venv/bin/python"])
    with pytest.raises(PlaybookError, match=r"engines.vllm.python: .venv is already the notebook kernel's venv"):
        setup.plan(profile)


@pytest.mark.parametrize(("lock", "pins"), [("gpu-vllm.lock.txt", ["vllm==0.24.0", "torch==2.11.0"]),
                                            ("gpu-sglang.lock.txt", ["sglang==0.5.14", "torch==2.11.0"]),
                                            ("gpu-kernel.lock.txt", ["torch==2.11.0", "papermill=="])])  # fmt: skip
def test_gpu_locks_are_tool_made_with_hashes_and_pin_the_tested_releases(lock, pins):
    text = (REPO_ROOT / "requirements" / lock).read_text()
    assert text.startswith("# tool-made: uv pip compile") and "--generate-hashes" in text.splitlines()[0]
    requirements = re.findall(r"^([A-Za-z0-9_.\-\[\]]+==\S+) \\\n((?:\s+--hash=sha256:\w+ ?\\?\n?)+)", text, re.M)
    assert len(requirements) == len(re.findall(r"^[A-Za-z0-9_.\-]+==", text, re.M)) > 50  # every pin has hashes
    for pin in pins:
        assert re.search(rf"^{re.escape(pin)}", text, re.M), f"{lock} does not pin {pin}"


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_setup_for_a_gpu_profile_never_installs_the_cpu_lock():
    done = subprocess.run(["make", "-n", "setup", "PROFILE=h100-qwen2.5-7b"], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert "cpu.lock" not in done.stdout and "--no-deps -r" not in done.stdout
    assert (
        "requirements/gpu-kernel.lock.txt" in done.stdout and "playbook setup --profile h100-qwen2.5-7b" in done.stdout
    )
