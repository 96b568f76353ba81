"""Prefix caching (pitfall 3): the hit rate a workload really gets, from the engine's counters.

Each engine counts looked-up and hit prompt tokens in two counters its adapter names
(``prefix_cache_series``: vLLM's ``prefix_cache_queries_total`` / ``hits_total``, SGLang's
``prompt_tokens_total`` / ``cached_tokens_total``); the hit rate of a workload is the ratio of the
two counters' increase across it. A shared-prefix workload that hits less than the profile's threshold
(60 % by default, the article's line) raises a visible warning with the usual causes.
"""

from __future__ import annotations

from playbook.load.cache import CacheCounters, HitRate, hit_rate_between, read_counters

__all__ = ["LIKELY_CAUSES", "CacheCounters", "HitRate", "hit_rate_between", "hit_rate_warning", "read_counters"]
LIKELY_CAUSES = (
    "prefix caching is off (--no-enable-prefix-caching, or an engine/version where it is not the default)",
    "the shared part is not at the start: a timestamp, request id or user name before the system prompt "
    "changes the first block, and nothing after it can match",
    "the shared prefix is shorter than one KV block (16 tokens by default), so no full block is shared",
    "the KV cache is too small for the working set: shared blocks are evicted between requests",
    "requests are spread over replicas without prefix-aware routing (each replica caches separately)",
)


def hit_rate_warning(workload: str, rate: float | None, threshold: float) -> str | None:
    """The warning the report shows when a workload that should share prefixes does not."""
    if rate is not None and rate >= threshold:
        return None
    shown = "no lookups were counted" if rate is None else f"{rate:.0%}"
    causes = "\n".join(f"  - {c}" for c in LIKELY_CAUSES)
    return f"WARNING: prefix-cache hit rate of {workload!r} is {shown}, below {threshold:.0%}. Likely causes:\n{causes}"
