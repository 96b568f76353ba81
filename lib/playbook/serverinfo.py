"""What a running server says about itself: Prometheus /metrics, models, log facts."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from playbook.engines import Server, auth_headers

KV_LOG_PATTERN = re.compile(r"KV cache size: ([\d,]+) tokens|max_total_num_tokens=(\d+)")
NON_DEFAULT_PATTERN = re.compile(r"non-default args: (\{.*\})")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def scrape(server: Server, timeout_s: float = 5.0) -> list[Sample]:
    """Every sample of the server's Prometheus endpoint."""
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
    """The KV capacity the engine computed at start: vLLM's /metrics, SGLang's
    /get_server_info, else the log line either writes."""
    if server.engine == "sglang":
        found = _sglang_max_total_tokens(server)
        if found:
            return found
    try:
        for sample in scrape(server):
            if sample.name == "vllm:cache_config_info" and "kv_cache_size_tokens" in sample.labels:
                return int(sample.labels["kv_cache_size_tokens"])
    except httpx.HTTPError:
        pass
    if server.log_path and server.log_path.exists():
        found = KV_LOG_PATTERN.findall(server.log_path.read_text(errors="replace"))
        if found:
            return int("".join(found[-1]).replace(",", ""))
    return None


def _sglang_max_total_tokens(server: Server) -> int | None:
    """SGLang reports ``max_total_num_tokens`` in /get_server_info (nested in newer releases)."""
    try:
        info = httpx.get(server.base_url + "/get_server_info", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return None
    stack = [info]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("max_total_num_tokens"), int):
                return item["max_total_num_tokens"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def served_models(server: Server, api_key: str | None = None) -> list[str]:
    headers = auth_headers(api_key)
    data = httpx.get(server.api_url + "/models", headers=headers, timeout=10).json()
    return [m["id"] for m in data.get("data", [])]


def engine_version(server: Server) -> str | None:
    try:
        response = httpx.get(server.base_url + "/version", timeout=5)
        return response.json().get("version") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def non_default_args(server: Server) -> str | None:
    """vLLM logs the arguments that differ from its defaults once at start."""
    if not server.log_path or not server.log_path.exists():
        return None
    found = NON_DEFAULT_PATTERN.findall(server.log_path.read_text(errors="replace"))
    return found[0] if found else None
