"""The engine registry: one adapter per engine, looked up by the profile's engine name.

Like the request-function registry of vLLM's ``benchmarks/``: the launcher, the
Kubernetes renderer, the scraper and the reports ask :func:`get_engine`, so a new
engine is one module here and one :func:`register` line below.
"""

from __future__ import annotations

from playbook.core.errors import PlaybookError
from playbook.core.profiles import Profile
from playbook.serving.engines.base import EngineAdapter, LaunchTarget, Sample
from playbook.serving.engines.sglang import SglangAdapter
from playbook.serving.engines.trtllm import TrtllmAdapter
from playbook.serving.engines.vllm import VllmAdapter

ENGINES: dict[str, EngineAdapter] = {}


def register(adapter: EngineAdapter) -> EngineAdapter:
    ENGINES[adapter.name] = adapter
    return adapter


def unregister(name: str) -> None:
    ENGINES.pop(name, None)


def get_engine(name: str) -> EngineAdapter:
    """The adapter, or a one-line error naming the engines there are."""
    try:
        return ENGINES[name]
    except KeyError:
        raise PlaybookError(f"unknown engine {name!r}; known: {', '.join(sorted(ENGINES))}") from None


def scraped_metrics() -> dict[str, str]:
    """Every registered engine's Prometheus series -> the load generator's column names."""
    return {series: column for adapter in ENGINES.values() for series, column in adapter.metrics.items()}


def prefix_cache_counters(samples: list[Sample]) -> tuple[float, float] | None:
    """(hit tokens, looked-up tokens) from a /metrics scrape, by whichever registered engine's series it holds;
    None where it holds neither (an engine without them, or metrics turned off)."""
    for adapter in ENGINES.values():
        if adapter.prefix_cache_series is None:
            continue
        values = [[s.value for s in samples if s.name == name] for name in adapter.prefix_cache_series]
        if all(values):
            return sum(values[0]), sum(values[1])
    return None


def engines_beside(profile: Profile, chosen: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """The engines a day runs beside the profile's own (``chosen``, or every other registered one) and, for each
    left out, why: no build for this accelerator, or no ``engines.<name>`` entry in the profile. The reasons go
    into the day's ``skipped``, so a report says why an engine column is empty."""
    names = chosen if chosen is not None else [name for name in ENGINES if name != profile.engine]
    run, skipped = [], {}
    for name in names:
        reason = get_engine(name).cannot_launch(profile.hardware.accelerator)
        if reason is None and name not in profile.engines:
            reason = f"this profile configures no engines.{name}"
        if reason is None:
            run.append(name)
        else:
            skipped[name] = reason
    return run, skipped


for _adapter in (VllmAdapter(), SglangAdapter(), TrtllmAdapter()):
    register(_adapter)

__all__ = [
    "ENGINES", "EngineAdapter", "LaunchTarget", "Sample", "engines_beside", "get_engine", "prefix_cache_counters",
    "register",
    "scraped_metrics", "unregister",
]  # fmt: skip
