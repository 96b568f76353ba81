"""What this CPU can run: the instruction set from /proc/cpuinfo, the emulation switch, the kernel probe run
in the engine's interpreter, and Day 4's decision from them."""

from __future__ import annotations

import sys

import pytest

from playbook.core.errors import PlaybookError
from playbook.core.profiles import load_profile
from playbook.days.day4 import quantized_serving
from playbook.serving import capabilities
from playbook.serving.capabilities import KernelProbe, cpu_isa, emulation_env, probe_kernels

AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
AVX512_BF16 = "flags\t\t: fpu avx2 avx512f avx512bw avx512_bf16 amx_tile\n"


def test_the_instruction_set_is_read_from_the_cpu_flags(monkeypatch):
    monkeypatch.delenv("PLAYBOOK_CPU_ISA", raising=False)
    assert cpu_isa(AVX2_ONLY).name == "avx2"
    assert cpu_isa("flags : avx2 avx512f\n").name == "avx512"
    assert cpu_isa(AVX512_BF16).name == "avx512_bf16" and cpu_isa(AVX512_BF16).flags[-1] == "amx_tile"
    assert cpu_isa("").name == "other"


def test_an_emulated_avx2_cpu_narrows_only_the_engines_environment(monkeypatch):
    monkeypatch.setenv("PLAYBOOK_CPU_ISA", "avx2")
    isa = cpu_isa(AVX512_BF16)
    assert isa.name == "avx2" and isa.emulated == "avx2" and "avx512f" in isa.flags  # the host's flags stay on record
    env = emulation_env({"PYTHONPATH": "/x"})
    assert (
        env["PYTHONPATH"].split(":") == [str(capabilities.EMULATION_DIR), "/x"] and env["ATEN_CPU_CAPABILITY"] == "avx2"
    )
    monkeypatch.setenv("PLAYBOOK_CPU_ISA", "sse4")
    with pytest.raises(PlaybookError, match="PLAYBOOK_CPU_ISA='sse4': only 'avx2'"):
        cpu_isa(AVX512_BF16)
    monkeypatch.delenv("PLAYBOOK_CPU_ISA")
    assert emulation_env({"A": "1"}) == {"A": "1"}


def test_the_probe_reads_one_json_line_and_reports_a_failure(tmp_path):
    ok = probe_kernels("vllm", sys.executable, 'print(\'{"build": "_C_AVX2", "kernels": {"w4a16": false}}\')', {})
    assert ok == KernelProbe("vllm", "_C_AVX2", {"w4a16": False}) and not ok.has("w4a16")
    broken = probe_kernels("vllm", sys.executable, "raise SystemExit('no vllm here')", {})
    assert broken.build is None and "exited 1: no vllm here" in broken.error


@pytest.mark.parametrize(
    ("setting", "probe", "mode", "reason"),
    [
        ("auto", None, "w4a16", "GPU build"),
        ("auto", KernelProbe("vllm", "_C", {"w4a16": True}), "w4a16", "_C build on this CPU (avx2) has cpu_gemm"),
        (
            "auto",
            KernelProbe("vllm", "_C_AVX2", {"w4a16": False}),
            "dequantized",
            "_C_AVX2 build on this CPU (avx2) has no W4A16",
        ),
        ("auto", KernelProbe("vllm", None, error="exited 1"), "dequantized", "probe failed"),
        ("dequantized", KernelProbe("vllm", "_C", {"w4a16": True}), "dequantized", "forced"),
        ("w4a16", KernelProbe("vllm", "_C_AVX2", {"w4a16": False}), "w4a16", "forced"),
    ],
)
def test_day4_serves_4_bit_weights_only_where_the_kernel_is(setting, probe, mode, reason):
    settings = load_profile("cpu-smollm2", [f"days.day4.quantized_serving={setting}"]).days.day4
    decision = quantized_serving(settings, probe, "avx2")
    assert decision.mode == mode
    assert reason in decision.reason
    assert (decision.speed_skipped is None) == (mode == "w4a16")


def test_the_probe_runs_in_the_engines_interpreter_on_the_cpu_only():
    from playbook.serving.launcher import probe_engine

    assert probe_engine(load_profile("h100-qwen2.5-7b", [f"engines.vllm.python={sys.executable}"])) is None
