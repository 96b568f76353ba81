"""Cache state is part of a workload: how much of a load the server answered from its prefix cache.

A level that re-sends prompts an earlier level sent is answered from the prefix cache: its prefill work, TTFT
and throughput are not those of the workload the report names. The load generator sends each prompt once
(``playbook.load.sweep.PromptPool``); this module measures what the server still found in its cache, from the
engine's own counters (the adapter's ``prefix_cache_series``) read before and after the load, and says whether
that is more than the workload shares by construction (the chat template's opening, the same for every
request): if it is, the level is ``contaminated`` and the selection does not use it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from playbook.core.errors import PlaybookError
from playbook.load.datasets import SampleRequest
from playbook.serving import serverinfo
from playbook.serving.endpoint import Endpoint
from playbook.serving.engines import get_engine, prefix_cache_counters

CONTAMINATION_MARGIN = 0.05  # hit rate above what the workload shares by construction, in share of prompt tokens


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


def read_counters(server: Any) -> CacheCounters | None:
    """The engine's prefix-cache counters (a launched Server or an Endpoint); None where it serves no metrics
    (SGLang without --enable-metrics). A scrape that succeeds without the series reads as zero: a Prometheus
    counter is exported from its first increment, and a fresh SGLang exports its cache counters only after its
    first request, so the first level of a run would otherwise have no hit rate. (An engine that never exports
    them reads zero before and after, which is no lookup, so no rate either.)"""
    try:
        samples = serverinfo.scrape(server)
    except (httpx.HTTPError, ValueError):
        return None
    found = prefix_cache_counters(samples)
    return CacheCounters(0.0, 0.0) if found is None else CacheCounters(*found)


def hit_rate_between(before: CacheCounters, after: CacheCounters) -> HitRate:
    return HitRate(after.hits - before.hits, after.queries - before.queries)


@dataclass(frozen=True)
class CacheUse:
    """One load's prefix-cache use: the hit rate, what the workload shares by construction, and the judgement."""

    hit_rate: float | None  # None: the engine exposes no counters, or nothing was looked up
    expected_share: float | None  # the prompt share every request shares (template), None when not known
    shared_workload: bool  # declared shared (shared-prefix): hits are the point, never contamination
    contaminated: bool | None  # None: not judged (no counters, or a shared workload)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(rate: float | None, expected_share: float | None, shared_workload: bool) -> CacheUse:
    """Contaminated: more of the prompts came from the cache than the workload shares by construction (plus a
    margin of 5 % of the prompt tokens); an unknown share counts as none."""
    if rate is None or shared_workload:
        return CacheUse(rate, expected_share, shared_workload, None)
    return CacheUse(rate, expected_share, shared_workload, rate > (expected_share or 0.0) + CONTAMINATION_MARGIN)


def measured_use(endpoint: Endpoint, before: CacheCounters | None, expected_share: float | None,
                 shared_workload: bool) -> CacheUse:  # fmt: skip
    """The cache use of the load run since ``before`` was read."""
    after = read_counters(endpoint) if before is not None else None
    rate = hit_rate_between(before, after).rate if before is not None and after is not None else None
    return judge(rate, expected_share, shared_workload)


def template_share(samples: Sequence[SampleRequest], tokenizer_dir: str | Path | None, probe: int = 8) -> float | None:
    """The share of a prompt's tokens (after the chat template) that every request of a workload begins with:
    the template's opening, a default system prompt. A prefix cache may serve that part of every request; it is
    the workload's own sharing, not contamination. None without a local tokenizer or a chat template."""
    if tokenizer_dir is None or len(samples) < 2:
        return None
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    if not getattr(tokenizer, "chat_template", None):
        return None
    ids = []
    for sample in samples[:probe]:
        encoded = tokenizer.apply_chat_template(sample.messages, add_generation_prompt=True, tokenize=True)
        ids.append(list(encoded["input_ids"] if isinstance(encoded, Mapping) else encoded))  # transformers 5: a dict
    return shared_prefix_share(ids)


def shared_prefix_share(token_ids: Sequence[Sequence[int]]) -> float:
    """Tokens every sequence begins with, over their mean length."""
    common = next((k for k, column in enumerate(zip(*token_ids, strict=False)) if len(set(column)) > 1),
                  min(map(len, token_ids)))  # fmt: skip
    return common / (sum(len(i) for i in token_ids) / len(token_ids))


@dataclass(frozen=True)
class ColdRound:
    """How a round was made to start from a cold prefix cache, and the fields its every request must carry."""

    how: str  # "flushed" (the engine's flush endpoint answered 200) or "salted" (a fresh salt for this round)
    request_fields: dict[str, str]  # merged into each request of the round (the salt); empty after a flush


def cold_round(endpoint: Endpoint, engine: str, label: str) -> ColdRound:
    """Start a round that repeats an earlier round's prompts from a cold prefix cache, so every round and every
    client measures the same work. Where the engine can empty its cache (``cache_flush_path``) it is emptied;
    where it takes a per-request salt (``cache_salt_field``), the round gets a salt no earlier round used, so no
    block cached before can match (requests of the same round still share the chat template, as they would
    after a flush). A flush that is refused, or an engine with neither, is an error: the round would measure
    cache hits."""
    adapter = get_engine(engine)
    if adapter.cache_flush_path is not None:
        reply = httpx.post(endpoint.base_url + adapter.cache_flush_path, headers=endpoint.headers, timeout=60)
        if reply.status_code != 200:
            raise PlaybookError(f"{engine} refused to empty its prefix cache ({reply.status_code}): {reply.text[:200]}")
        return ColdRound("flushed", {})
    if adapter.cache_salt_field is not None:
        return ColdRound("salted", {adapter.cache_salt_field: f"{label}-{secrets.token_hex(8)}"})
    raise PlaybookError(f"{engine} can neither empty its prefix cache nor salt a request; start a server per round")


def with_fields(samples: Sequence[SampleRequest], fields: Mapping[str, str]) -> list[SampleRequest]:
    """The samples with ``fields`` merged into each request's body."""
    return [replace(s, extra_body={**(s.extra_body or {}), **fields}) if fields else s for s in samples]
