"""`playbook healthcheck` against the live vLLM CPU server: the CI/CD check of Day 5, for real."""

from __future__ import annotations

import pytest

from playbook.serving.healthcheck import run_healthcheck

pytestmark = pytest.mark.server


def test_live_vllm_is_healthy(live_server):
    report = run_healthcheck(live_server.base_url, live_server.model_name, expect="Paris")
    assert report.ok, report.to_json()


def test_live_vllm_with_a_wrong_model_name_is_unhealthy(live_server):
    report = run_healthcheck(live_server.base_url, "Qwen2.5-7B-Instruct", expect="Paris")
    assert not report.ok and "not in ['smollm2-135m-instruct']" in report.reason
