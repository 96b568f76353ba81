"""Small, valid metrics.json contents for tests of the readers (trends, selection, baseline)."""

from __future__ import annotations

from typing import Any


def distribution(value: float) -> dict[str, Any]:
    return {"count": 1, "mean_ms": value, "p50_ms": value, "p90_ms": value, "p95_ms": value, "p99_ms": value}


def summary(tok_s: float, ttft_ms: float = 900.0, e2e_ms: float = 5000.0) -> dict[str, Any]:
    """A LatencySummary's JSON form: one request, every percentile the same."""
    latencies = {"ttft": distribution(ttft_ms), "tpot": distribution(10.0), "itl": distribution(10.0),
                 "e2e": distribution(e2e_ms)}  # fmt: skip
    rates = {"request_throughput_rps": 1.0, "output_throughput_tok_s": tok_s, "total_throughput_tok_s": tok_s}
    return {"requests": 1, "successes": 1, "errors_by_kind": {}, "duration_s": 1.0, **latencies, **rates}


def day_metrics(day: int, steps: dict[str, Any], profile: str = "cpu-smollm2", status: str = "ok") -> dict[str, Any]:
    """The envelope the recorder writes around a day's steps."""
    return {"schema_version": 1, "day": day, "profile": profile, "status": status,
            "started_utc": "2026-11-25T00:00:00+00:00", "steps": steps, "skipped": {}}  # fmt: skip


def run_manifest(run_id: str, profile: str = "cpu-smollm2", **changes: Any) -> dict[str, Any]:
    """A manifest.json's contents with every required field (``playbook.reports.run_manifest.RunManifest``)."""
    data = {"run_id": run_id, "date": "2026-11-25", "status": "ok", "started_utc": "2026-11-25T10:00:00+00:00",
            "profile_file": f"params/{profile}.yaml", "profile": {"name": profile}, "engine": "vllm",
            "days": []}  # fmt: skip
    return {**data, **changes}


def sized(metrics: dict, key: str) -> int:
    """The count a sized day used for ``key`` (``steps.work_sizing``): what a test of a sized day asserts against,
    after checking that it kept its minimum."""
    count = next(c for c in metrics["steps"]["work_sizing"]["counts"] if c["key"] == key)
    assert count["minimum"] <= count["used"] <= count["wanted"], count
    return count["used"]
