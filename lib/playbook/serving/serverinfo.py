"""What a running server says about itself: Prometheus /metrics, models, log facts."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from playbook.serving.endpoint import Endpoint
from playbook.serving.engines import Sample, get_engine
from playbook.serving.launcher import Server

NON_DEFAULT_PATTERN = re.compile(r"non-default args: (\{.*\})")


def scrape(server: Server | Endpoint, timeout_s: float = 5.0) -> list[Sample]:
    """Every sample of the server's Prometheus endpoint (a launched server, or any endpoint)."""
    reply = httpx.get(server.base_url + "/metrics", timeout=timeout_s)
    reply.raise_for_status()
    text = reply.text
    return [
        Sample(s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def metric_value(samples: list[Sample], name: str) -> float | None:
    """Sum of a metric over its label sets (e.g. all engines), or None if absent."""
    values = [s.value for s in samples if s.name == name]
    return sum(values) if values else None


def reported_kv_capacity_tokens(server: Server) -> int | None:
    """The KV capacity the engine computed at start, as its adapter knows to read it: the engine's
    own info endpoint, its /metrics, else the log line it writes."""
    adapter = get_engine(server.engine)
    if adapter.info_path:
        try:
            found = adapter.kv_capacity_from_info(httpx.get(server.base_url + adapter.info_path, timeout=10).json())
        except (httpx.HTTPError, ValueError):
            found = None
        if found:
            return found
    try:
        found = adapter.kv_capacity_from_metrics(scrape(server))
    except httpx.HTTPError:
        found = None
    if found:
        return found
    if server.log_path and server.log_path.exists():
        return adapter.kv_capacity_from_log(server.log_path.read_text(errors="replace"))
    return None


def served_models(server: Server) -> list[str]:
    headers = server.endpoint.headers
    data = httpx.get(server.api_url + "/models", headers=headers, timeout=10).json()
    return [m["id"] for m in data.get("data", [])]


def engine_version(server: Server) -> str | None:
    """The release the server reports, from where its adapter says it reports it (vLLM: /version;
    SGLang: /get_server_info)."""
    path = get_engine(server.engine).version_path
    if path is None:
        return None
    try:
        response = httpx.get(server.base_url + path, timeout=5)
        return response.json().get("version") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None


def non_default_args(server: Server) -> str | None:
    """vLLM logs the arguments that differ from its defaults once at start."""
    if not server.log_path or not server.log_path.exists():
        return None
    found = NON_DEFAULT_PATTERN.findall(server.log_path.read_text(errors="replace"))
    return found[0] if found else None
