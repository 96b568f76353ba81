"""Day 6 on the CPU: adapters trained here, served by real vLLM with --enable-lora, routing proven by behaviour,
runtime load/unload, and mixed traffic measured."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.server


def test_day6_notebook_routes_by_model_and_measures_mixed_traffic(run_day_notebook):
    metrics = run_day_notebook("day6_multi_lora.ipynb", "day06")
    assert metrics["status"] == "ok", metrics.get("failures")
    steps = metrics["steps"]
    routing = {row["model"]: row for row in steps["routing"]}
    assert routing["acme-tag"]["acme-tag behaviour"] >= 0.8 and routing["json-answer"]["json-answer behaviour"] >= 0.8
    base = routing["smollm2-135m-instruct"]
    assert base["acme-tag behaviour"] == 0 and base["json-answer behaviour"] <= 0.2
    assert steps["article_lora_name"]["ignored"] is True
    assert all("NOT refused" not in reason for reason in steps["refusals"].values())
    assert {row["traffic"] for row in steps["mixed_traffic"]} >= {"base only", "uniform over adapters"}
    assert all(row["ok"] == row["requests"] for row in steps["mixed_traffic"])
    assert "sglang_multi_lora" in metrics["skipped"]
