"""The GPU check before a GPU run's numbers count: nvidia-smi's answer parsed, the self-test judged against the
published peak and the usual value, a slow machine flagged (recorded samples; the live part runs on a GPU)."""

from __future__ import annotations

from pathlib import Path

from playbook.sizing.gpu_check import SelfTest, parse_nvidia_smi, verdict

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "gpu"


def test_nvidia_smi_identity_is_parsed_and_unsupported_fields_are_none():
    gpus = parse_nvidia_smi((SAMPLES / "nvidia-smi-h200.csv").read_text())
    assert len(gpus) == 1 and gpus[0].name == "NVIDIA H200" and gpus[0].uuid.startswith("GPU-")
    assert gpus[0].driver and gpus[0].max_sm_clock_mhz and gpus[0].power_limit_w
    odd = parse_nvidia_smi("GPU-1, NVIDIA H200, 580.1, [N/A], 3201, 1980, [Not Supported], 31, Enabled, Disabled\n")
    assert odd[0].sm_clock_mhz is None and odd[0].power_limit_w is None and odd[0].memory_clock_mhz == 3201


def test_a_healthy_h200_is_compared_with_its_peak_and_usual_values():
    lines = verdict("NVIDIA H200", SelfTest(785.0, 4310.0, 21.0))
    assert len(lines) == 2 and not any("SLOW" in line for line in lines)
    assert "99% of the usual 790, 79% of the published peak" in lines[0]


def test_a_slow_copy_bandwidth_is_flagged():
    lines = verdict("NVIDIA H200", SelfTest(780.0, 2620.0, 21.0))
    assert lines[1].startswith("SLOW MACHINE: this NVIDIA H200 reached 61% of its usual copy bandwidth")


def test_the_profiles_expected_value_overrides_the_table_and_an_unknown_gpu_says_so():
    assert "SLOW MACHINE" in verdict("NVIDIA H200", SelfTest(780.0, 4300.0, 20.0), expected_tflops=1000.0)[0]
    assert "no usual value known" in verdict("NVIDIA B300", SelfTest(2000.0, 7000.0, 20.0))[0]
