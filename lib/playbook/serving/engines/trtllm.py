"""TensorRT-LLM's OpenAI server (``trtllm-serve``), run as a module of the interpreter.

Never run here: PyPI holds only wheel-stub sources that fetch the wheel from pypi.nvidia.com (out of reach), and
1.2.1 pins torch <= 2.10 against the GPU image's 2.11 (docs/results.md, "TensorRT-LLM"). Measure a running server in
attach mode."""

from __future__ import annotations

from playbook.core.profiles import EngineSpec
from playbook.serving.engines.base import EngineAdapter, LaunchTarget, flags_above_one


class TrtllmAdapter(EngineAdapter):
    name = "trtllm"
    module = "tensorrt_llm.commands.serve"
    releases = ("1.3",)
    distributions = ("tensorrt-llm",)
    install_hint = "install TensorRT-LLM in that interpreter (NVIDIA GPU hosts only): `pip install tensorrt-llm`"
    no_build_why = "TensorRT-LLM builds for NVIDIA GPUs only"

    def server_args(self, spec: EngineSpec, target: LaunchTarget) -> list[str]:
        argv = [
            target.model, "--host", target.host, "--port", str(target.port),
            "--max_seq_len", str(spec.max_model_len),
            "--kv_cache_free_gpu_memory_fraction", str(spec.gpu_memory_utilization),
        ]  # fmt: skip
        return argv + flags_above_one(spec, {"tensor_parallel_size": "--tp_size"})
