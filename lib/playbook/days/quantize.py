"""Day 4: quantize with llm-compressor in its own interpreter, checked first, cached by content.

The article's ``pip install awq`` / ``AutoAWQForCausalLM.quantize(model, tokenizer, ...)`` is
wrong twice: the package is ``autoawq`` and the call is ``model.quantize(tokenizer,
quant_config=...)``; and AutoAWQ is archived. Its maintained successor, llm-compressor, writes
compressed-tensors checkpoints that vLLM serves as W4A16. llm-compressor pins its own torch
and transformers, so it runs as a subprocess under ``days.day4.quant_python``
(:mod:`playbook.days.quant_job`), with a JSON job this module validated.

Everything that can be wrong with a job (a group size that does not divide a layer, a
missing interpreter) is refused here before the model is touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playbook.core.errors import PlaybookError
from playbook.core.profiles import REPO_ROOT, Day4Settings
from playbook.load.datasets import iter_sharegpt
from playbook.sizing.architecture import ModelShape
from playbook.sizing.models import MARKER, cache_root, safetensors_bytes

JOB_SCRIPT = Path(__file__).with_name("quant_job.py")
IGNORED_LAYERS = ["lm_head"]  # the output head stays in full precision (vLLM and AutoAWQ do the same)


class QuantizationConfigError(PlaybookError):
    """A quantization setting that cannot work for this model; raised before any work."""


def quantized_input_dims(shape: ModelShape) -> dict[str, int]:
    """Input width of each kind of Linear layer that gets quantized: a group of weights shares
    one scale along this axis, so the group size must divide it."""
    return {
        "hidden_size (q/k/v, gate/up inputs)": shape.hidden_size,
        "attention output (o_proj input)": shape.num_attention_heads * shape.head_dim,
        "intermediate_size (down_proj input)": shape.intermediate_size,
    }


def check_group_size(group_size: int, shape: ModelShape) -> None:
    """Refuse a group size that leaves a partial group in some layer, naming the layer and a fix."""
    bad = {name: dim for name, dim in quantized_input_dims(shape).items() if dim % group_size}
    if not bad:
        return
    dims = list(quantized_input_dims(shape).values())
    fits = [g for g in (128, 64, 32) if all(d % g == 0 for d in dims)]
    detail = ", ".join(f"{name} = {dim} = {dim / group_size:g} x {group_size}" for name, dim in bad.items())
    raise QuantizationConfigError(
        f"days.day4.group_size={group_size} does not divide every quantized layer's input: {detail}. "
        + (f"Use group_size={fits[0]}." if fits else "No group size of 32/64/128 fits: quantize per channel.")
    )


def check_interpreter(settings: Day4Settings) -> Path:
    python = Path(settings.quant_python)
    python = python if python.is_absolute() else REPO_ROOT / python
    if not python.exists():
        raise QuantizationConfigError(
            f"days.day4.quant_python {settings.quant_python} does not exist: `make setup` creates it from "
            "requirements/quant.lock.txt (llm-compressor needs its own environment)"
        )
    return python


def calibration_texts(n: int, min_chars: int = 600) -> list[str]:
    """The first ``n`` long-enough ShareGPT conversations: chat text like the model will serve,
    and disjoint from the pydoc prose the perplexity gate reads."""
    texts = []
    for item in iter_sharegpt():
        text = "\n".join(turn.get("value", "") for turn in item.get("conversations", []))
        if len(text) >= min_chars:
            texts.append(text)
        if len(texts) == n:
            return texts
    raise QuantizationConfigError(
        f"only {len(texts)} ShareGPT conversations are long enough; lower days.day4.calibration_samples"
    )


def build_job(settings: Day4Settings, method: str, source_dir: str, torch_dtype: str, seed: int) -> dict[str, Any]:
    return {
        "method": method, "bits": settings.bits, "group_size": settings.group_size, "symmetric": settings.symmetric,
        "ignore": IGNORED_LAYERS, "awq_n_grid": settings.awq_n_grid, "max_seq_len": settings.calibration_seq_len,
        "calibration_texts": calibration_texts(settings.calibration_samples), "seed": seed,
        "torch_dtype": torch_dtype, "source_dir": source_dir,
    }  # fmt: skip


def job_key(job: dict[str, Any], source_sha256: str, quantizer: str) -> str:
    """Same source weights + same job + same quantizer (its lock and job script) = same checkpoint: reuse it."""
    payload = {k: v for k, v in job.items() if k not in ("source_dir", "out_dir")}
    blob = json.dumps([payload, source_sha256, quantizer], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class QuantizedModel:
    method: str
    path: str
    cached: bool
    seconds: float
    weight_bytes_on_disk: int
    job_record: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quantizer_fingerprint() -> str:
    """The quantizer as it will run: its environment's lock and the job script it is given. A change to either can
    change the checkpoint, so either one gives the job a new key instead of reusing a checkpoint made the old way."""
    lock = REPO_ROOT / "requirements" / "quant.lock.txt"
    locked = hashlib.sha256(lock.read_bytes()).hexdigest()[:12] if lock.exists() else "unlocked"
    return f"{locked}+{hashlib.sha256(JOB_SCRIPT.read_bytes()).hexdigest()[:12]}"


def checkpoint_dir(
    settings: Day4Settings, method: str, source_dir: str, source_sha256: str,
    torch_dtype: str = "float32", seed: int = 0,
) -> tuple[Path, dict[str, Any]]:  # fmt: skip
    """Where this job's checkpoint lives in the cache (whether or not it exists yet), and the job."""
    job = build_job(settings, method, source_dir, torch_dtype, seed)
    name = f"{Path(source_dir).name}-{method}-w{settings.bits}g{settings.group_size}"
    return cache_root() / "quantized" / f"{name}-{job_key(job, source_sha256, _quantizer_fingerprint())}", job


def dequantized_dir(checkpoint: str | Path, torch_dtype: str) -> Path:
    """Where the dense copy of a 4-bit checkpoint is cached (beside it)."""
    return Path(f"{checkpoint}-dequantized-{torch_dtype}")


def is_cached(
    settings: Day4Settings, method: str, source_dir: str, source_sha256: str, seed: int = 0,
    dequantized_dtype: str | None = None,
) -> bool:  # fmt: skip
    """A cached checkpoint is served as it is: then the quantizer's environment is not needed (a GPU machine
    that was given the checkpoints made elsewhere, under the same content key, has no llm-compressor). Where the
    engine has no 4-bit kernel (``dequantized_dtype`` set), its dense copy must be cached too: the quantizer's
    environment makes it."""
    out_dir, _ = checkpoint_dir(settings, method, source_dir, source_sha256, seed=seed)
    if dequantized_dtype is not None and not (dequantized_dir(out_dir, dequantized_dtype) / MARKER).exists():
        return False
    return (out_dir / MARKER).exists()


def quantize(
    settings: Day4Settings, method: str, source_dir: str, source_sha256: str, log_path: Path,
    torch_dtype: str = "float32", seed: int = 0,
) -> QuantizedModel:  # fmt: skip
    """Quantize ``source_dir`` with ``method`` (cached); the job's output streams to ``log_path``."""
    from filelock import FileLock

    check_group_size(settings.group_size, ModelShape.from_folder(Path(source_dir)))
    out_dir, job = checkpoint_dir(settings, method, source_dir, source_sha256, torch_dtype, seed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out_dir) + ".lock"):
        cached = (out_dir / MARKER).exists()
        started = time.perf_counter()
        if not cached:
            _run_job(check_interpreter(settings), job, out_dir, log_path, settings.quantize_timeout_s)
        record = json.loads((out_dir / "quantization.json").read_text())
    return QuantizedModel(method, str(out_dir), cached, round(time.perf_counter() - started, 1),
                          safetensors_bytes(out_dir), record)  # fmt: skip


def dequantize(settings: Day4Settings, checkpoint: str, torch_dtype: str, log_path: Path) -> str:
    """``checkpoint`` with its 4-bit weights expanded to dense ``torch_dtype`` weights (cached beside it):
    what an engine without a W4A16 kernel can serve to measure the quantized model's quality."""
    from filelock import FileLock

    out_dir = dequantized_dir(checkpoint, torch_dtype)
    with FileLock(str(out_dir) + ".lock"):
        if not (out_dir / MARKER).exists():
            job = {"kind": "dequantize", "method": "dequantize", "source_dir": checkpoint, "torch_dtype": torch_dtype}
            _run_job(check_interpreter(settings), job, out_dir, log_path, settings.quantize_timeout_s)
    return str(out_dir)


def _run_job(python: Path, job: dict[str, Any], out_dir: Path, log_path: Path, timeout_s: float) -> None:
    """Write into a temp folder and rename, so a killed job never leaves a half checkpoint in the cache."""
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    job_file = tmp / "job.json"
    job_file.write_text(json.dumps({**job, "out_dir": str(tmp)}))
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    with log_path.open("w") as log:
        try:
            done = subprocess.run([str(python), "-P", str(JOB_SCRIPT), str(job_file)], stdout=log,
                                  stderr=subprocess.STDOUT, env=env, timeout=timeout_s, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise PlaybookError(f"quantization ran past {timeout_s:g} s; log: {log_path}") from None
    if done.returncode != 0:
        tail = log_path.read_text()[-1500:]
        kind = job.get("kind", "quantization")
        raise PlaybookError(f"{kind} ({job['method']}) failed with exit {done.returncode}:\n{tail}")
    job_file.unlink()
    (tmp / MARKER).write_text(json.dumps({"quantized_from": job["source_dir"], "method": job["method"]}))
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
