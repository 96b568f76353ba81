"""The CI/CD health check: is this endpoint serving the model, correctly and fast enough?

``/health`` only says the process is up. A deploy is healthy when ``/v1/models`` lists the
model and one short greedy chat completion returns the expected content within the latency
budget. The check stops at the first failure and says why in one line, so a pipeline log
needs no scrolling.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import httpx

from playbook.serving.endpoint import auth_headers


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str
    latency_ms: float | None = None


@dataclass
class HealthReport:
    base_url: str
    model: str | None
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def reason(self) -> str:
        failed = next((s for s in self.steps if not s.ok), None)
        return f"{failed.name}: {failed.detail}" if failed else "healthy"

    def to_dict(self) -> dict:
        """What ``--json`` prints and Day 5 records: the verdict and its reason first, then every step."""
        return {"ok": self.ok, "reason": self.reason, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def one_line(self) -> str:
        answer = next((s for s in self.steps if s.name == "chat"), None)
        timing = f" ({answer.latency_ms:.0f} ms)" if answer and answer.latency_ms is not None else ""
        return f"{'OK' if self.ok else 'UNHEALTHY'} {self.base_url} model={self.model}: {self.reason}{timing}"


def check_health(client: httpx.Client, report: HealthReport) -> bool:
    try:
        response = client.get("/health")
    except httpx.TransportError as exc:
        report.steps.append(Step("health", False, f"cannot connect ({type(exc).__name__}: {exc})"))
        return False
    report.steps.append(Step("health", response.status_code == 200, f"GET /health returned {response.status_code}"))
    return response.status_code == 200


def check_models(client: httpx.Client, report: HealthReport) -> bool:
    response = client.get("/v1/models")
    if response.status_code != 200:
        report.steps.append(
            Step("models", False, f"GET /v1/models returned {response.status_code}: {response.text[:120]}")
        )
        return False
    served = [m.get("id") for m in response.json().get("data", [])]
    if report.model is None and served:
        report.model = served[0]
    ok = report.model in served
    report.steps.append(Step("models", ok, f"serves {served}" if ok else f"model {report.model!r} not in {served}"))
    return ok


def check_chat(
    client: httpx.Client, report: HealthReport, prompt: str, expect: str, max_latency_ms: float | None
) -> bool:
    body = {"model": report.model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 32,
            "temperature": 0}  # fmt: skip
    started = time.perf_counter()
    response = client.post("/v1/chat/completions", json=body)
    latency_ms = (time.perf_counter() - started) * 1e3
    if response.status_code != 200:
        detail = f"POST /v1/chat/completions returned {response.status_code}: {response.text[:120]}"
        report.steps.append(Step("chat", False, detail, latency_ms))
        return False
    content = response.json()["choices"][0]["message"].get("content") or ""
    if expect.lower() not in content.lower():
        report.steps.append(Step("chat", False, f"answer {content[:80]!r} does not contain {expect!r}", latency_ms))
        return False
    if max_latency_ms is not None and latency_ms > max_latency_ms:
        detail = f"answered in {latency_ms:.0f} ms, over the {max_latency_ms:.0f} ms budget"
        report.steps.append(Step("chat", False, detail, latency_ms))
        return False
    report.steps.append(Step("chat", True, f"answer contains {expect!r}", latency_ms))
    return True


def run_healthcheck(
    base_url: str,
    model: str | None = None,
    prompt: str = "What is the capital of France?",
    expect: str = "Paris",
    max_latency_ms: float | None = None,
    api_key: str | None = None,
    timeout_s: float = 60.0,
) -> HealthReport:
    report = HealthReport(base_url.rstrip("/"), model)
    headers = auth_headers(api_key)
    with httpx.Client(base_url=report.base_url, headers=headers, timeout=timeout_s) as client:
        try:
            if check_health(client, report) and check_models(client, report):
                check_chat(client, report, prompt, expect, max_latency_ms)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            report.steps.append(Step("request", False, f"{type(exc).__name__}: {exc}"))
    return report
