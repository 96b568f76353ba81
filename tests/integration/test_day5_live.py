"""Day 5's notebook against the shared live vLLM CPU server: manifests validate, the health check passes."""

from __future__ import annotations

import pytest
import yaml

from playbook.serving import k8s

pytestmark = pytest.mark.server


def test_day5_notebook_validates_manifests_and_health_checks_the_server(live_server, run_day_notebook, tmp_path):
    metrics = run_day_notebook("day5_kubernetes_healthcheck.ipynb", "day05", base_url=live_server.base_url)
    assert metrics["status"] == "ok", metrics.get("failures")
    steps = metrics["steps"]
    assert any("v1beta1" in p for p in steps["article_manifest_problems"])
    assert all(row["problems"] == "" for row in steps["all_profiles"]) and len(steps["all_profiles"]) >= 16
    assert steps["healthcheck"]["ok"] is True, steps["healthcheck"]
    assert "pitfall4_two_instances_one_gpu" in metrics["skipped"]
    assert "healthcheck_stopped_server" in metrics["skipped"]  # attached: the shared server is not ours to stop
    for path in (tmp_path / "day05" / "manifests").glob("*.yaml"):
        assert k8s.validate_all([d for d in yaml.safe_load_all(path.read_text()) if d]) == []
