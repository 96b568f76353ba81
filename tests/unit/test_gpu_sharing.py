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


def test_the_same_share_twice_is_judged_by_what_the_engine_did():
    """vLLM refuses the second instance; SGLang 0.5 starts it with the KV left over (H200, 2026-11-30: 752,937 of
    5,498,295 tokens). Both show the pitfall; a second instance with the first's KV would not."""
    from playbook.days.gpu_sharing import InstanceAttempt, SharingResult

    def attempt(label, started, kv, reason=None):
        return InstanceAttempt(label, 0.85, started, 55.0, reason, kv, None, None, None)

    alone = attempt("alone", True, 5_498_295)
    refused = SharingResult(alone, attempt("second-same-share", False, None, "out of memory"))
    shrunk = SharingResult(alone, attempt("second-same-share", True, 752_937))
    equal = SharingResult(alone, attempt("second-same-share", True, 5_400_000))
    assert refused.same_share_verdict() == (True, "a second instance with the same share does not start: out of memory")
    assert shrunk.same_share_verdict() == (
        True,
        "a second instance with the same share starts, KV capacity 14% of the first's",
    )
    assert equal.same_share_verdict()[0] is False
