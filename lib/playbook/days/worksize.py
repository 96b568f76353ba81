"""Each day's work in seconds on this machine, and the counts a time budget may shrink (``sizing.work``).

A day with ``time_budget_s`` in its settings is sized when Day 1 of the same run measured the machine's speed:
the runner's harness (``run.notebook.start_day``) calls :func:`size_day` and applies the counts as profile
overrides, so they pass the profile's own checks. The estimates are deliberately simple (a request's time alone,
divided by the concurrency gain Day 1's burst measured): they choose counts, and the report puts the day's real
duration beside them. Every minimum says why it is the floor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from playbook.core.profiles import Profile
from playbook.days.day4 import serves_dtype_baseline
from playbook.days.quality import TASK_CONCURRENCY
from playbook.sizing.work import Count, MachineSpeed, WorkPlan, plan_work, share_margin

TASK_KINDS = 5  # Day 3's extraction kinds: person, company, order, choice, regex
ANSWER_SHARE = 0.5  # extraction answers end at about half of max_tokens (30 of 64 measured on the CPU, 2026-12-04)
CHAT_PROMPT_TOKENS = 256  # Day 2's prompts: code-edit files and ShareGPT turns, a few hundred tokens each


def _margin(n_trials: Callable[[int], int], what: str) -> Callable[[int], str]:
    return lambda n: f"{what} ± {share_margin(n_trials(n)):.0%} (95 %, {n_trials(n)} trials)"


def _per_level(levels: list[int]) -> Callable[[int], str]:
    return lambda n: "requests per level: " + ", ".join(f"c={c}: {max(n, c)}" for c in levels)


def day2_work(profile: Profile, speed: MachineSpeed) -> tuple[list[Count], Callable[[Mapping[str, int]], float]]:
    s = profile.days.day2
    servers = 1 + len(s.methods)
    counts = [
        Count("min_requests_per_level", s.min_requests_per_level, 4,
              "a level's p50 TPOT from fewer than 4 requests is one request's noise", _per_level(s.concurrency)),
        Count("output_tokens", s.output_tokens, 24,
              "speculation pays over a whole answer: below 24 tokens the first proposals dominate the acceptance"),
        Count("lossless_prompts", s.lossless_prompts, 2 * len(s.workloads),
              "two greedy comparisons a workload at the least: with one, one prompt is the workload's verdict",
              _margin(lambda n: n, "lossless match"), multiple=len(s.workloads)),
    ]  # fmt: skip

    def estimate(n: Mapping[str, int]) -> float:
        levels = sum(speed.requests_s(max(n["min_requests_per_level"], c), n["output_tokens"], c, CHAT_PROMPT_TOKENS)
                     for c in s.concurrency)  # fmt: skip
        lossless = n["lossless_prompts"] * speed.request_s(s.lossless_max_tokens, CHAT_PROMPT_TOKENS)
        return speed.starts_s(len(s.methods)) + servers * (len(s.workloads) * levels + lossless)

    return counts, estimate


def day3_work(profile: Profile, speed: MachineSpeed) -> tuple[list[Count], Callable[[Mapping[str, int]], float]]:
    s = profile.days.day3
    counts = [
        Count("tasks_per_kind", s.tasks_per_kind, 2,
              f"{TASK_KINDS} kinds x 2 = 10 tasks a mode: with one a kind's accuracy is a single answer",
              _margin(lambda n: TASK_KINDS * n, "valid rate and accuracy")),
        Count("prefix_requests", s.prefix_requests, 8,
              "the first request of each prefix always misses: below 8 that miss sets the hit rate"),
    ]  # fmt: skip
    if s.session_conversations:
        counts.append(Count("session_conversations", s.session_conversations, 2,
                            "one chat's turns are one sample of the hit rate's rise"))  # fmt: skip
    answer = max(1, int(s.max_tokens * ANSWER_SHARE))

    def estimate(n: Mapping[str, int]) -> float:
        tasks = TASK_KINDS * n["tasks_per_kind"]
        structured = sum(2 * speed.requests_s(tasks, answer, c) for c in s.concurrency)
        backends = len(s.extra_backends) * speed.requests_s(tasks, answer, min(s.concurrency))
        prompt = s.prefix_tokens + s.suffix_tokens
        prefix = 3 * speed.requests_s(n["prefix_requests"], s.prefix_output_tokens, 1, prompt)
        chats = n.get("session_conversations", 0)
        turns = sum(speed.requests_s(chats, s.session_output_tokens, chats, k * s.session_input_tokens)
                    for k in range(1, s.session_turns + 1)) if chats else 0.0  # fmt: skip
        sessions = turns + s.session_turns * s.session_think_s if chats else 0.0
        starts = speed.starts_s(len(s.extra_backends))  # a server per extra backend (caching off is a salt)
        return starts + structured + backends + prefix + sessions

    return counts, estimate


def day4_work(profile: Profile, speed: MachineSpeed) -> tuple[list[Count], Callable[[Mapping[str, int]], float]]:
    s = profile.days.day4
    models = 1 + len(s.methods) + (1 if serves_dtype_baseline(profile) else 0)
    answer = max(1, int(profile.days.day3.max_tokens * ANSWER_SHARE))
    counts = [
        Count("perplexity_windows", s.perplexity_windows, 4,
              f"4 x {s.perplexity_window_tokens} held-out tokens: with fewer one window's topic moves the perplexity",
              lambda n: f"{n * s.perplexity_window_tokens} held-out tokens"),
        Count("greedy_prompts", s.greedy_prompts, 4, "greedy agreement over fewer than 4 prompts is one prompt's"),
        Count("tasks_per_kind", s.tasks_per_kind, 2, f"{TASK_KINDS} kinds x 2 = 10 scored tasks a model",
              _margin(lambda n: TASK_KINDS * n, "accuracy")),
        Count("speed_requests", s.speed_requests, 4, "a TPOT median from fewer than 4 requests is one request's"),
    ]  # fmt: skip

    def estimate(n: Mapping[str, int]) -> float:
        windows = n["perplexity_windows"] * speed.request_s(1, s.perplexity_window_tokens)
        greedy = n["greedy_prompts"] * speed.request_s(s.greedy_tokens)
        tasks = speed.requests_s(TASK_KINDS * n["tasks_per_kind"], answer, TASK_CONCURRENCY)
        load = sum(speed.requests_s(max(n["speed_requests"], c), s.speed_output_tokens, c, 64)
                   for c in s.speed_concurrency)  # fmt: skip
        return speed.starts_s(models - 1) + models * (windows + greedy + tasks + load)

    return counts, estimate


def day7_work(profile: Profile, speed: MachineSpeed) -> tuple[list[Count], Callable[[Mapping[str, int]], float]]:
    s = profile.days.day7
    counts = [
        Count(
            "waves_per_level",
            s.waves_per_level,
            2,
            "the steady window lies between the first wave and the drain: one wave has none",
        ),
    ]
    if s.rate_sweep:
        counts.append(Count("rate_max_steps", s.rate_max_steps, 3,
                            "the search doubles once and bisects once at the least"))  # fmt: skip

    def estimate(n: Mapping[str, int]) -> float:
        level = sum(speed.requests_s(max(s.min_requests_per_level, n["waves_per_level"] * c), s.output_tokens, c,
                                     s.input_tokens) for c in s.sweep_concurrency)  # fmt: skip
        peak = speed.requests_s(s.peak_requests, s.output_tokens, s.peak_concurrency, s.input_tokens)
        rate = n.get("rate_max_steps", 0) * s.rate_step_s * 1.5  # each step's arrivals, then its drain
        return s.rounds * level + peak + rate

    return counts, estimate


WORK = {2: day2_work, 3: day3_work, 4: day4_work, 7: day7_work}


def time_budget_s(profile: Profile, day: int) -> float | None:
    settings = getattr(profile.days, f"day{day}", None)
    return getattr(settings, "time_budget_s", None)


def size_day(profile: Profile, day: int, speed: MachineSpeed, pinned: set[str] | frozenset[str] = frozenset()
             ) -> WorkPlan | None:  # fmt: skip
    """The day's counts sized to its budget on this machine; None for a day without a budget. A ``pinned`` count
    (one the caller set by an override) keeps its value: its minimum is what was asked."""
    budget = time_budget_s(profile, day)
    if day not in WORK or budget is None:
        return None
    counts, estimate = WORK[day](profile, speed)
    counts = [
        replace(c, minimum=c.wanted, why_minimum="set by an override: kept as given") if c.key in pinned else c
        for c in counts
    ]
    return plan_work(day, budget, counts, estimate, speed.measured_by)
