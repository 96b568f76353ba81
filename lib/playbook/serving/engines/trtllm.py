"""TensorRT-LLM's OpenAI server (``trtllm-serve``), run as a module of the interpreter.

Never run here (no wheel for the lent GPUs' stack); measure a running one in attach mode."""

from __future__ import annotations

from playbook.core.profiles import EngineSpec
from playbook.serving.engines.base import EngineAdapter, LaunchTarget, flags_above_one


class TrtllmAdapter(EngineAdapter):
    name = "trtllm"
    module = "tensorrt_llm.commands.serve"
    releases = ("1.3",)
    distributions = ("tensorrt-llm",)
    install_hint = "install TensorRT-LLM in that interpreter (NVIDIA GPU hosts only): `pip install tensorrt-llm`"

    def server_args(self, spec: EngineSpec, target: LaunchTarget) -> list[str]:
        argv = [
            target.model, "--host", target.host, "--port", str(target.port),
            "--max_seq_len", str(spec.max_model_len),
            "--kv_cache_free_gpu_memory_fraction", str(spec.gpu_memory_utilization),
        ]  # fmt: skip
        return argv + flags_above_one(spec, {"tensor_parallel_size": "--tp_size"})
