"""The article's AutoAWQ path, with the corrected API, timed on this machine.

    python3 -m venv /tmp/autoawq && /tmp/autoawq/bin/pip install autoawq==0.2.9 torch==2.13.0+cpu
    /tmp/autoawq/bin/python benchmarks/legacy_autoawq.py MODEL_DIR OUT_DIR

Not part of the playbook's environments: AutoAWQ is archived upstream (llm-compressor, which
Day 4 uses, is its successor). Measured 2026-11-25 on the 2-core dev machine: it installs,
and ``model.quantize`` runs on the CPU at about 38 s per decoder layer for SmolLM2-135M
(30 layers: ~19 min, against ~1.5 min for llm-compressor's AWQ with the same group size).
"""

import sys
import time

from awq import AutoAWQForCausalLM
from transformers import AutoTokenizer


def main(model_dir: str, out_dir: str) -> None:
    started = time.perf_counter()
    model = AutoAWQForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # AutoAWQ drops calibration texts longer than max_calib_seq_len, so keep them short.
    calibration = ["The quick brown fox jumps over the lazy dog. " * 5] * 16
    model.quantize(
        tokenizer,
        quant_config={"zero_point": True, "q_group_size": 64, "w_bit": 4, "version": "GEMM"},
        calib_data=calibration,
        max_calib_seq_len=128,
    )
    model.save_quantized(out_dir)
    print(f"| tool | layers | seconds |\n|---|---|---|\n| autoawq 0.2.9 | all | {time.perf_counter() - started:.0f} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
