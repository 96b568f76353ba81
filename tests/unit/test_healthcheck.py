"""The CI health check against the mock OpenAI server: each failure gives one clear line."""

import json
import subprocess
import sys

from playbook.serving.healthcheck import run_healthcheck
from tests.support.mock import free_port


def test_healthy_endpoint_passes(mock_server):
    _, url = mock_server
    report = run_healthcheck(url, "mock-model", expect="tok0", max_latency_ms=10_000)
    assert report.ok, report.reason
    assert [s.name for s in report.steps] == ["health", "models", "chat"]
    assert report.one_line().startswith("OK ")


def test_wrong_model_name_is_named(mock_server):
    _, url = mock_server
    report = run_healthcheck(url, "qwen-7b", expect="tok0")
    assert not report.ok and report.reason == "models: model 'qwen-7b' not in ['mock-model']"


def test_wrong_answer_and_slow_answer_fail(mock_server):
    _, url = mock_server
    assert run_healthcheck(url, expect="Paris").reason.startswith("chat: answer ' tok0")
    slow = run_healthcheck(url, expect="tok0", max_latency_ms=1)
    assert not slow.ok and "over the 1 ms budget" in slow.reason


def test_stopped_server_fails_with_a_connection_reason():
    report = run_healthcheck(f"http://127.0.0.1:{free_port()}", "m", timeout_s=5)
    assert not report.ok and report.reason.startswith("health: cannot connect")


def test_cli_exit_codes_and_json(mock_server):
    _, url = mock_server
    cli = [sys.executable, "-m", "playbook.cli", "healthcheck", "--base-url", url]
    ok = subprocess.run([*cli, "--expect", "tok1", "--json"], capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    bad = subprocess.run([*cli, "--model", "nope"], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stdout.startswith("UNHEALTHY") and len(bad.stdout.strip().splitlines()) == 1


def test_the_workflow_runs_when_the_docs_say_it_does():
    """The docs and Day 5 say "after deploys and every 30 minutes": the workflow has both triggers, and after a
    deploy it checks only a deployment that succeeded."""
    import yaml

    from playbook.core.profiles import REPO_ROOT

    workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/llm-healthcheck.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "deployment_status" in triggers and triggers["schedule"] == [{"cron": "*/30 * * * *"}]
    job = workflow["jobs"]["healthcheck"]
    assert "deployment_status.state == 'success'" in job["if"]
    assert "deployment_status.environment_url" in job["env"]["BASE_URL"]
