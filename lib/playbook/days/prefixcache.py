"""Prefix caching (pitfall 3): the hit rate a workload really gets, from the engine's counters.

vLLM counts prefix-cache lookups and hits in tokens (``vllm:prefix_cache_queries_total`` and
``vllm:prefix_cache_hits_total``); the hit rate of a workload is the ratio of the two counters'
increase across it. A shared-prefix workload that hits less than the profile's threshold
(60 % by default, the article's line) raises a visible warning with the usual causes.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from playbook.serving import serverinfo
from playbook.serving.launcher import Server

HITS = "vllm:prefix_cache_hits_total"
QUERIES = "vllm:prefix_cache_queries_total"
LIKELY_CAUSES = (
    "prefix caching is off (--no-enable-prefix-caching, or an engine/version where it is not the default)",
    "the shared part is not at the start: a timestamp, request id or user name before the system prompt "
    "changes the first block, and nothing after it can match",
    "the shared prefix is shorter than one KV block (16 tokens by default), so no full block is shared",
    "the KV cache is too small for the working set: shared blocks are evicted between requests",
    "requests are spread over replicas without prefix-aware routing (each replica caches separately)",
)


@dataclass(frozen=True)
class CacheCounters:
    hits: float
    queries: float


@dataclass(frozen=True)
class HitRate:
    hit_tokens: float
    queried_tokens: float

    @property
    def rate(self) -> float | None:
        return self.hit_tokens / self.queried_tokens if self.queried_tokens else None


def read_counters(server: Server) -> CacheCounters | None:
    """vLLM's prefix-cache counters; None where the engine exposes none (SGLang without --enable-metrics)."""
    try:
        samples = serverinfo.scrape(server)
    except (httpx.HTTPError, ValueError):
        return None
    hits, queries = serverinfo.metric_value(samples, HITS), serverinfo.metric_value(samples, QUERIES)
    return None if hits is None or queries is None else CacheCounters(hits, queries)


def hit_rate_between(before: CacheCounters, after: CacheCounters) -> HitRate:
    return HitRate(after.hits - before.hits, after.queries - before.queries)


def hit_rate_warning(workload: str, rate: float | None, threshold: float) -> str | None:
    """The warning the report shows when a workload that should share prefixes does not."""
    if rate is not None and rate >= threshold:
        return None
    shown = "no lookups were counted" if rate is None else f"{rate:.0%}"
    causes = "\n".join(f"  - {c}" for c in LIKELY_CAUSES)
    return f"WARNING: prefix-cache hit rate of {workload!r} is {shown}, below {threshold:.0%}. Likely causes:\n{causes}"
