"""The run manifest: everything needed to say what ran where, and to rerun it.

Versions are read from the *engine's* interpreter (it may differ from the one running
the notebooks), hardware from /proc and nvidia-smi/rocm-smi when present.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from playbook.core.errors import PlaybookError
from playbook.core.profiles import REPO_ROOT, Profile
from playbook.serving.capabilities import cpu_isa
from playbook.serving.engines import ENGINES, get_engine
from playbook.serving.launcher import probe_engine
from playbook.sizing.host import cpu_model

ENGINE_PACKAGES = tuple(d for adapter in ENGINES.values() for d in adapter.distributions)  # every registered engine
VERSION_PACKAGES = (*ENGINE_PACKAGES, "torch", "transformers", "openai", "papermill")
LOCK_FILES = ("requirements/cpu.lock.txt", "pyproject.toml", "environment.yml")

_VERSIONS_SNIPPET = """
import importlib.metadata as m, json, sys
out = {"python": sys.version.split()[0]}
for name in sys.argv[1:]:
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        pass
print(json.dumps(out))
"""


def _run(argv: list[str], timeout: float = 20, env: dict[str, str] | None = None) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT,
                              env={**os.environ, **env} if env else None)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def package_versions(python: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Versions as the engine sees them: its interpreter, with the profile's environment for it (a staged
    engine on ``PYTHONPATH`` is found only so: SGLang's version read None on the H200 of 2026-12-03)."""
    out = _run([python, "-c", _VERSIONS_SNIPPET, *VERSION_PACKAGES], timeout=60, env=env)
    return json.loads(out) if out else {}


def git_state() -> dict[str, Any]:
    """The checkout's commit, or ``PLAYBOOK_SOURCE_COMMIT`` where the caller knows better: the lent GPU machine
    gets the working tree with a stale ``.git`` (its HEAD was an older commit in every GPU reference so far)."""
    given = os.environ.get("PLAYBOOK_SOURCE_COMMIT")
    if given:
        return {"git_commit": given, "git_dirty": None, "git_commit_from": "PLAYBOOK_SOURCE_COMMIT"}
    commit = _run(["git", "rev-parse", "HEAD"])
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"])
    return {"git_commit": commit, "git_dirty": bool(dirty)}


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def gpus() -> list[dict[str, str]]:
    if shutil.which("nvidia-smi"):
        query = "--query-gpu=name,driver_version,memory.total"
        out = _run(["nvidia-smi", query, "--format=csv,noheader"])
        if out:
            return [
                dict(zip(("name", "driver", "memory"), (x.strip() for x in line.split(",")), strict=False))
                for line in out.splitlines()
            ]
    if shutil.which("rocm-smi"):
        out = _run(["rocm-smi", "--showproductname", "--json"])
        if out:
            return [{"name": str(v), "driver": "rocm"} for v in json.loads(out).values()]
    return []


def lockfile_hash() -> str:
    digest = hashlib.sha256()
    for name in LOCK_FILES:
        path = REPO_ROOT / name
        if path.exists():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def cpu_capabilities(profile: Profile) -> dict[str, Any]:
    """On the CPU: the instruction set (and whether it is emulated) and which engine kernels loaded here."""
    if profile.hardware.accelerator != "cpu":
        return {}
    try:
        probe = probe_engine(profile)
    except PlaybookError as exc:  # no engine interpreter (attach mode): the ISA still counts
        return {"cpu_isa": cpu_isa().to_dict(), "engine_kernels": {"error": str(exc)}}
    return {"cpu_isa": cpu_isa().to_dict(), "engine_kernels": probe.to_dict() if probe else None}


def collect_environment(profile: Profile) -> dict[str, Any]:
    engine_python, engine_env = sys.executable, {}
    if profile.engine in profile.engines:
        engine_env = dict(profile.engines[profile.engine].env)
        candidate = Path(profile.engines[profile.engine].python)
        candidate = candidate if candidate.is_absolute() else REPO_ROOT / candidate
        if candidate.exists():
            engine_python = str(candidate)
    versions = package_versions(engine_python, engine_env)
    gpu_list = gpus()
    cores = len(__import__("os").sched_getaffinity(0))
    hardware = f"{len(gpu_list)} x {gpu_list[0]['name']}" if gpu_list else f"CPU only: {cpu_model()}, {cores} cores"
    distributions = get_engine(profile.engine).distributions if profile.engine in ENGINES else ()
    engine_version = next((versions[d] for d in distributions if versions.get(d)), None)
    return {
        **git_state(),
        "lockfile_sha256": lockfile_hash(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_cores": cores,
        "memory_gib": memory_gib(),
        "gpus": gpu_list,
        "hardware_summary": hardware,
        "engine_python": engine_python,
        "engine_version": engine_version,
        **cpu_capabilities(profile),
        "package_versions": versions,
    }
