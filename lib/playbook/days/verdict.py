"""The verdict from the measurements: the engine that serves your daily volume within your SLOs at the lowest cost.

The article's tree (``selection.decide``) answers from the questionnaire alone: no measurement can change it. This
module answers from what the days measured, for every engine that has results for the profile (this run and the
``compare_runs`` beside it):

* each engine's **capacity** is its highest steady-state throughput whose P99 TTFT and P50 TPOT meet the SLOs
  (Day 7; levels that met cached prompts do not count), with the spread of its rounds;
* where the questionnaire gives structured output a share, that part of the traffic runs at the engine's own
  constrained-to-prompt-only throughput ratio (Day 3); the mix's capacity is the time-weighted (harmonic) mean;
* the **cost at your volume**: replicas = max(1, ceil(peak-hour tokens/s / capacity)), peak = average x the
  questionnaire's peak-to-average factor; $/day and the effective $ per million tokens at your volume, beside $ per
  million at full load;
* the engine with the lower cost at your volume wins; at equal cost (the same number of devices), the one whose
  capacity is higher outside the spread of its rounds; a difference inside the spread is a **tie**, and a tie goes
  to the simpler operation (``SIMPLER_FIRST``), said as such;
* a class of traffic that carries weight but was not measured for an engine is named with the run that would
  measure it: the gap is never filled with the article's claim. The article's verdict stays beside it, as its
  opinion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from playbook.core.profiles import Profile
from playbook.days.selection import (
    ARTICLE_ENGINES,
    Evidence,
    Workload,
    best_level_within_slo,
    cost_per_million_tokens,
    decide,
)
from playbook.load.rounds import Spread, compare, spread_of
from playbook.serving import k8s
from playbook.serving.k8s import ReplicaPlan

SIMPLER_FIRST = ARTICLE_ENGINES  # the article's own order of operational effort: vLLM is its baseline
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class VolumeCost:
    """What serving the questionnaire's daily volume costs on one engine at its SLO-meeting capacity."""

    capacity_tok_s: float
    replicas: int
    devices: int
    utilization: float  # average volume / what the replicas could serve
    usd_per_day: float
    usd_per_million_at_volume: float | None
    usd_per_million_at_full_load: float


def volume_cost(daily_tokens: int, peak_factor: float, capacity_tok_s: float, usd_per_hour: float,
                gpus_per_replica: int = 1) -> VolumeCost:  # fmt: skip
    """Replicas for the peak hour, never fewer than one; the day's cost and the effective price at this volume."""
    average = daily_tokens / SECONDS_PER_DAY
    replicas = max(1, math.ceil(average * peak_factor / capacity_tok_s))
    devices = replicas * gpus_per_replica
    usd_per_day = devices * usd_per_hour * 24
    at_volume = usd_per_day / (daily_tokens / 1e6) if daily_tokens else None
    full = cost_per_million_tokens(capacity_tok_s, usd_per_hour, gpus_per_replica)
    return VolumeCost(capacity_tok_s, replicas, devices, average / (replicas * capacity_tok_s), usd_per_day,
                      at_volume, full)  # fmt: skip


@dataclass(frozen=True)
class EngineCapacity:
    engine: str
    concurrency: int | None  # the SLO-meeting level the capacity comes from
    chat: Spread | None  # steady throughput at that level, over its rounds
    structured_ratio: float | None  # Day 3: constrained / prompt-only output tok/s
    mix_tok_s: float | None  # the questionnaire's mix, time-weighted
    missing: tuple[str, ...]  # classes with weight this engine has no measurement for, and the run that measures it


@dataclass(frozen=True)
class MeasuredVerdict:
    engine: str | None
    reason: str  # one sentence built from the numbers
    tie: bool
    capacities: tuple[EngineCapacity, ...]
    costs: Mapping[str, VolumeCost]
    article_engine: str
    article_rule: str
    agreement: str  # the article's verdict beside the measured one
    missing: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _structured_ratio(evidence: Evidence, engine: str) -> float | None:
    day3 = evidence.day3
    if day3 is None:
        return None
    rows = [r for r in day3.rows(engine, "structured") if r.tpot_p50_ms]
    top = max((r.concurrency or 0 for r in rows), default=None)
    constrained = next((r for r in rows if r.constrained and r.concurrency == top), None)
    free = next((r for r in rows if r.constrained is False and r.concurrency == top), None)
    if not constrained or not free:
        return None
    return free.tpot_p50_ms / constrained.tpot_p50_ms  # per stream: tokens/s scale as 1 / TPOT


def _structured_ratio_of_runs(engine: str, evidence: Evidence, beside: Sequence[Evidence], workload: Workload,
                              ) -> tuple[float | None, str | None]:  # fmt: skip
    """The engine's constrained/prompt-only ratio from its own Day 3, or a Day 3 that measured it beside another
    engine; and what is missing instead. A ratio measured on another model than the capacity is not weighed:
    grammar work costs a 135M model's step far more, in share, than a 7B's."""
    share = f"{workload.structured_share:.0%}"
    found = next(((ev, r) for ev in (evidence, *beside) if (r := _structured_ratio(ev, engine)) is not None), None)
    if found is None:
        return None, f"structured output ({share} of requests): run Day 3 with engine={engine}"
    (run, ratio), day7 = found, evidence.day7.profile if evidence.day7 else None
    if day7 and run.day3.profile != day7:
        return None, (f"structured output ({share} of requests): Day 3 measured {engine} on {run.day3.profile}, its "
                      f"capacity is from {day7}; a ratio from another model is not weighed")  # fmt: skip
    return ratio, None


def capacity(engine: str, evidence: Evidence, workload: Workload, beside: Sequence[Evidence] = ()) -> EngineCapacity:
    """One engine's SLO-meeting capacity for the questionnaire's mix, and what it lacks (``beside``: the other
    engines' runs, whose Day 3 may have measured this engine too)."""
    best = best_level_within_slo(evidence.sweep_levels(), workload.ttft_slo_ms, workload.tpot_slo_ms)
    missing = []
    if best is None:
        why = "no Day 7 level" if not evidence.sweep_levels() else "no Day 7 level within the SLOs"
        missing.append(f"chat capacity ({why}): run Day 7 with engine={engine}")
    ratio = None
    if workload.structured_share:
        ratio, gap = _structured_ratio_of_runs(engine, evidence, beside, workload)
        missing += [gap] if gap else []
    if workload.shared_prefix_share:
        share = f"{workload.shared_prefix_share:.0%}"
        chats = evidence.day3 and any(t.engine == engine for t in evidence.day3.steps.sessions or [])
        measured = "TTFT and hit rate by turn in Day 3's multi-turn chats" if chats else "TTFT in Day 3's rows"
        missing.append(f"shared-prefix / multi-turn ({share}): not weighed into capacity ({measured}, not capacity)")
    chat = spread_of(best) if best else None
    mix = None
    if chat is not None:
        structured = workload.structured_share if ratio else 0.0
        chat_share = 1.0 - structured
        mix = 1.0 / (chat_share / chat.median + (structured / (chat.median * ratio) if ratio else 0.0))
    return EngineCapacity(engine, best.concurrency if best else None, chat, ratio, mix, tuple(missing))


def decide_measured(workload: Workload, columns: Mapping[str, Evidence], usd_per_hour: float,
                    gpus_per_replica: int = 1) -> MeasuredVerdict:  # fmt: skip
    """The measured verdict over every engine with results, with the article's beside it."""
    first = next(iter(columns.values()), Evidence())
    article = decide(workload, first)
    caps = tuple(
        capacity(engine, ev, workload, [o for e, o in columns.items() if e != engine]) for engine, ev in columns.items()
    )
    costs = {c.engine: volume_cost(workload.daily_output_tokens, workload.peak_to_average, c.mix_tok_s, usd_per_hour,
                                   gpus_per_replica) for c in caps if c.mix_tok_s}  # fmt: skip
    missing = tuple(dict.fromkeys(m for c in caps for m in c.missing))  # a class missing for both: said once
    engine, reason, tie = _choose(caps, costs, workload)
    if engine is None:
        agreement = f"the article would say {article.engine} ({article.rule}); nothing measured can confirm it yet"
    elif engine == article.engine:
        agreement = f"the article would say {article.engine} too ({article.rule})"
    else:
        agreement = f"the article would say {article.engine} ({article.rule}); your measurements say {engine}"
    return MeasuredVerdict(engine, reason, tie, caps, costs, article.engine, article.rule, agreement, missing)


def _choose(caps: tuple[EngineCapacity, ...], costs: Mapping[str, VolumeCost],
            workload: Workload) -> tuple[str | None, str, bool]:  # fmt: skip
    measured = [c for c in caps if c.engine in costs]
    if not measured:
        return None, "no engine has an SLO-meeting measurement: run Day 7 (Day 3 where structured output counts)", False
    volume = f"{workload.daily_output_tokens / 1e6:g} M output tokens/day (peak x{workload.peak_to_average:g})"
    if len(measured) == 1:
        c, cost = measured[0], costs[measured[0].engine]
        return c.engine, (f"{c.engine} is the only engine measured: {_capacity_text(c)} serves {volume} on "
                          f"{cost.devices} device(s) at ${cost.usd_per_day:,.0f}/day"), False  # fmt: skip
    cheapest = min(measured, key=lambda c: costs[c.engine].usd_per_day)
    others = [c for c in measured if c is not cheapest]
    runner = min(others, key=lambda c: costs[c.engine].usd_per_day)
    a, b = costs[cheapest.engine], costs[runner.engine]
    if a.usd_per_day < b.usd_per_day:
        sentence = (f"{cheapest.engine} serves {volume} on {a.devices} device(s) at ${a.usd_per_day:,.0f}/day, "
                    f"{runner.engine} needs {b.devices} (${b.usd_per_day:,.0f}/day)")  # fmt: skip
        return cheapest.engine, sentence, False
    faster, slower = sorted((cheapest, runner), key=lambda c: -c.chat.median)
    comparison = compare("SLO-meeting throughput", faster.chat, slower.chat)
    if comparison.verdict == "better":
        return faster.engine, (f"both serve {volume} on {a.devices} device(s) at ${a.usd_per_day:,.0f}/day; "
                               f"{faster.engine} has more headroom: {comparison.sentence(faster.engine, slower.engine)}"
                               ), False  # fmt: skip
    simpler = min((faster, slower), key=lambda c: SIMPLER_FIRST.index(c.engine) if c.engine in SIMPLER_FIRST else 99)
    return simpler.engine, (f"a tie: both serve {volume} on {a.devices} device(s) at ${a.usd_per_day:,.0f}/day and "
                            f"{comparison.sentence(faster.engine, slower.engine)}; a tie goes to the simpler "
                            f"operation, {simpler.engine}"), True  # fmt: skip


def _capacity_text(c: EngineCapacity) -> str:
    return f"{c.mix_tok_s:,.0f} tok/s within the SLOs (c={c.concurrency})"


@dataclass(frozen=True)
class Scaling:
    """What the chosen engine's KServe predictor takes from the measurements: replicas for the day's average and
    for its peak hour, and the in-flight requests per replica the autoscaler aims at (the SLO-meeting level)."""

    engine: str
    min_replicas: int
    max_replicas: int
    target_concurrency: int | None  # in flight a replica within the SLOs; None: no SLO-meeting level was measured
    capacity_tok_s: float
    why: tuple[str, ...]  # each number with the measurement it came from


def scaling_for(verdict: MeasuredVerdict, workload: Workload) -> Scaling | None:
    """The deployment numbers of the verdict's engine, or None without a verdict (no measured capacity): then the
    profile's replica settings stand, and the report says so."""
    if verdict.engine is None or verdict.engine not in verdict.costs:
        return None
    cost = verdict.costs[verdict.engine]
    found = next((c for c in verdict.capacities if c.engine == verdict.engine), None)
    average = workload.daily_output_tokens / SECONDS_PER_DAY
    low = max(1, math.ceil(average / cost.capacity_tok_s))
    high = max(low, cost.replicas)
    target = found.concurrency if found else None
    why = (
        f"minReplicas {low}: the day's average, {average:,.0f} output tok/s, over {cost.capacity_tok_s:,.0f} tok/s "
        "a replica serves within the SLOs",
        f"maxReplicas {high}: the peak hour ({workload.peak_to_average:g}x the average) over the same capacity",
        f"HPA target {target} running requests a pod ({k8s.running_requests_metric(verdict.engine)}): the Day 7 "
        "concurrency that capacity was measured at (KServe's own RawDeployment HPA scales on cpu or memory only, so "
        "the InferenceService is autoscalerClass external and this HPA scales it)"
        if target
        else "no HPA: no Day 7 level met the SLOs, so there is no measured target",
    )
    return Scaling(verdict.engine, low, high, target, cost.capacity_tok_s, why)


def deployment_for(profile: Profile, verdict: MeasuredVerdict, workload: Workload) -> Deployment:
    """The KServe manifest of the verdict's engine with its replicas and autoscaling target from the measurements,
    validated offline (``k8s.validate_all``). Without a verdict the profile's replica settings stand."""
    scaling = scaling_for(verdict, workload)
    engine = scaling.engine if scaling else profile.engine
    if engine not in profile.engines:
        return Deployment(engine, scaling, "", (f"profile {profile.name} has no engines.{engine} to render",))
    plan = ReplicaPlan(scaling.min_replicas, scaling.max_replicas, scaling.target_concurrency) if scaling else None
    documents = k8s.render(profile, "kserve", engine, plan)
    return Deployment(engine, scaling, k8s.to_yaml(documents), tuple(k8s.validate_all(documents)))


@dataclass(frozen=True)
class Deployment:
    engine: str
    scaling: Scaling | None  # None: no verdict, the profile's replicas
    manifest_yaml: str
    problems: tuple[str, ...]  # what k8s validation found (empty: valid)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)
