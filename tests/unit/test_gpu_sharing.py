"""Pitfall 4's reading of an engine log, and the profile's limits on sharing a GPU."""

import pytest
from pydantic import ValidationError

from playbook.core.profiles import Day5Settings
from playbook.days.gpu_sharing import InstanceAttempt, SharingResult, failure_reason

# The line vLLM 0.24 raises with (vllm/v1/worker/utils.py), inside a traceback.
VLLM_LOG = """INFO 11-26 01:02:03 [gpu_model_runner.py:1] Starting to load model
Traceback (most recent call last):
  File "/tmp/vllm/vllm/v1/worker/gpu_worker.py", line 240, in init_device
ERROR 11-26 01:02:04 [core.py:1] ValueError: Free memory on device cuda:0 (7.5/79.19 GiB) on startup is less \
than desired GPU memory utilization (0.9, 71.27 GiB). Decrease GPU memory utilization or reduce GPU memory used \
by other processes.
RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}
"""


def test_the_memory_line_wins_over_the_last_error():
    reason = failure_reason(VLLM_LOG)
    assert reason.startswith("ValueError: Free memory on device cuda:0 (7.5/79.19 GiB)")
    assert "Decrease GPU memory utilization" in reason


def test_without_a_memory_line_the_last_error_is_kept():
    assert failure_reason("loading\nImportError: no module\nRuntimeError: Engine core failed\n") == (
        "RuntimeError: Engine core failed"
    )
    assert failure_reason("INFO all fine\n") is None


def test_split_throughput_sums_only_when_every_instance_served():
    alone = InstanceAttempt("alone", 0.9, True, output_tok_s=1000.0)
    refused = InstanceAttempt("second-same-share", 0.9, False, reason="Free memory on device")
    split = [InstanceAttempt("split-1", 0.45, True, output_tok_s=600.0),
             InstanceAttempt("split-2", 0.45, True, output_tok_s=500.0)]  # fmt: skip
    assert SharingResult(alone, refused, split).split_output_tok_s == 1100.0
    split[1] = InstanceAttempt("split-2", 0.45, False, reason="out of memory")
    assert SharingResult(alone, refused, split).split_output_tok_s is None
    assert [row["label"] for row in SharingResult(alone, refused, split).rows()] == [
        "alone", "second-same-share", "split-1", "split-2"]  # fmt: skip


@pytest.mark.parametrize("fractions", [[0.5, 0.5], [0.9], [0.0, 0.4], [1.2, 0.1]])
def test_fractions_that_cannot_share_one_gpu_are_refused(fractions):
    with pytest.raises(ValidationError):
        Day5Settings(sharing_fractions=fractions)
