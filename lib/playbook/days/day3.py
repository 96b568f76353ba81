"""Day 3 measurements: structured output (validity, accuracy, latency overhead) and prefix
caching (hit rate, TTFT with caching on vs off), each as rows of one comparison table
(engine x workload x metric) that the selection report reads from ``metrics.json``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from playbook.core.errors import PlaybookError
from playbook.core.profiles import Day3Settings, Profile
from playbook.days import prefixcache
from playbook.days.context import DayContext, launch_variant
from playbook.days.structured import Score, Task, make_tasks, score, to_sample
from playbook.load.cache import CacheUse, measured_use, read_counters
from playbook.load.datasets import SampleRequest, build_requests
from playbook.load.loadgen import LoadConfig, LoadResult, read_records, run_load
from playbook.load.sessions import SessionSettings, run_sessions
from playbook.serving.engines import get_engine
from playbook.serving.launcher import Server

SGLANG_FRONTEND_EXAMPLE = """\
import sglang as sgl

@sgl.function
def extract_person(s, paragraph, schema_json):
    s += sgl.user(paragraph + "\\nExtract name, age, city as JSON.")
    s += sgl.assistant(sgl.gen("person", max_tokens=64, json_schema=schema_json))

@sgl.function
def order_status(s, paragraph):
    s += sgl.user(paragraph + "\\nWhich status does the order have?")
    s += sgl.assistant(sgl.select("status", choices=["pending", "shipped", "delivered", "cancelled"]))

sgl.set_default_backend(sgl.RuntimeEndpoint("http://127.0.0.1:30000"))
state = extract_person.run(paragraph="Norma Fisher is 75 ...", schema_json=json.dumps(SCHEMAS["person"]))
print(state["person"])
"""


TaskSets = dict[tuple[bool, int], list[Task]]


def task_sets(settings: Day3Settings, seed: int) -> TaskSets:
    """One set of tasks per (constrained, concurrency) run, each drawn with its own seed: the main server meets
    no prompt an earlier run sent, so neither mode is timed on cached prompts (a re-sent prompt is a prefix-cache
    hit, which shortens TTFT; the same tasks re-sent read 0.99 hit rates on an H200). Every set has the same
    kinds and counts. A server started fresh for a backend or another engine reuses the sets of the same key."""
    sets: TaskSets = {}
    for concurrency in settings.concurrency:
        for constrained in (False, True):
            sets[(constrained, concurrency)] = make_tasks(settings.tasks_per_kind, seed + 7919 * len(sets))
    texts = [t.text for tasks in sets.values() for t in tasks]
    if len(set(texts)) != len(texts):
        raise PlaybookError("days.day3: two task sets drew the same paragraph; change seed")
    return sets


def structured_run(
    server: Server, engine: str, tasks: list[Task], constrained: bool, concurrency: int, out_dir: Path,
    settings: Day3Settings,
) -> tuple[LoadResult, list[Score], CacheUse]:  # fmt: skip
    """Send every task once; score each answer. The server's prefix-cache use is measured around the run, so the
    row says how much of its prompts came from the cache (with ``task_sets``, only what every chat prompt shares)."""
    samples = [to_sample(t, constrained, engine, settings.max_tokens) for t in tasks]
    before = read_counters(server)
    config = LoadConfig(concurrency=concurrency, warmup_requests=1, ignore_eos=False, scrape_interval_s=None)
    desc = f"{'json' if constrained else 'free'} c={concurrency}"
    result = run_load(server.endpoint, config, samples, out_dir, desc=desc)
    cache = measured_use(server, before, None, shared_workload=False)
    by_id = {r.request_id: r for r in read_records(result.requests_path)}
    scores = []
    for i, task in enumerate(tasks):
        record = by_id.get(i)
        scored = score(task, record.output_text if record and record.success else "")
        scored.truncated = bool(record and (record.completion_tokens or 0) >= settings.max_tokens)
        scores.append(scored)
    return result, scores, cache


def structured_row(
    engine: str, backend: str, constrained: bool, concurrency: int, result: LoadResult, scores: list[Score],
    cache: CacheUse | None = None,
) -> dict[str, Any]:  # fmt: skip
    s = result.summary
    return {
        "engine": engine, "workload": "structured", "backend": backend if constrained else "none (prompt only)",
        "constrained": constrained, "concurrency": concurrency, "requests": len(scores),
        "valid_rate": sum(x.schema_valid for x in scores) / len(scores),
        "truncated": sum(x.truncated for x in scores),
        "field_accuracy": sum(x.field_accuracy for x in scores) / len(scores),
        **s.row("ttft_p50_ms", "tpot_p50_ms", "e2e_p50_ms", "e2e_p99_ms"), "status": result.status,
        "prefix_cache_hit_rate": cache.hit_rate if cache else None,
    }  # fmt: skip


def by_kind(scores: list[Score]) -> pd.DataFrame:
    frame = pd.DataFrame([{"kind": x.kind, "valid": x.schema_valid, "accuracy": x.field_accuracy} for x in scores])
    return frame.groupby("kind").mean().round(2)


def prefix_samples(profile: Profile, tokenizer_dir: str | None, shared: bool) -> list:
    """Many requests over a few long system prompts, or the same sizes with nothing shared."""
    s = profile.days.day3
    if shared:
        return build_requests("shared-prefix", s.prefix_requests, profile.seed, tokenizer_dir,
                              num_prefixes=s.num_prefixes, prefix_tokens=s.prefix_tokens,
                              suffix_tokens=s.suffix_tokens, output_tokens=s.prefix_output_tokens)  # fmt: skip
    sizes = {"input_tokens": s.prefix_tokens + s.suffix_tokens, "output_tokens": s.prefix_output_tokens}
    return build_requests("synthetic", s.prefix_requests, profile.seed + 1, tokenizer_dir, **sizes)


def prefix_run(server: Server, samples: list, out_dir: Path, label: str, caching: bool) -> dict[str, Any]:  # fmt: skip
    """One prefix workload at concurrency 1 (each request can reuse what the previous ones cached)."""
    before = prefixcache.read_counters(server)
    config = LoadConfig(concurrency=1, scrape_interval_s=None)
    result = run_load(server.endpoint, config, samples, out_dir, desc=label)
    after = prefixcache.read_counters(server)
    rate = prefixcache.hit_rate_between(before, after) if before and after else None
    s = result.summary
    return {"engine": server.engine, "workload": label,
            "prefix_caching": caching, "concurrency": 1, "requests": s.requests,
            "hit_rate": None if rate is None else rate.rate, "hit_tokens": None if rate is None else rate.hit_tokens,
            **s.row("ttft_p50_ms", "ttft_p99_ms", "e2e_p50_ms"), "status": result.status}  # fmt: skip


def prefix_off_row(ctx: DayContext, server: Server, model_arg: str, samples: list[SampleRequest],
                   out_dir: Path) -> dict[str, Any]:  # fmt: skip
    """The shared-prefix workload with reuse off. Where the engine takes a per-request cache salt, on the running
    server, each request salted apart (its blocks are hashed with the salt, so no other request can match them):
    what caching off costs, without a server start (~20 s on 2 cores, minutes on a GPU). Elsewhere on a server of
    its own started without prefix caching, after the running one is released."""
    field = get_engine(server.engine).cache_salt_field
    if field is not None:
        tag = secrets.token_hex(8)  # fresh each run: a pooled server may still hold an earlier run's salted blocks
        salted = [replace(s, extra_body={**(s.extra_body or {}), field: f"{tag}-{i}"}) for i, s in enumerate(samples)]
        row = prefix_run(server, salted, out_dir, "shared-prefix", False)
        return {**row, "caching_off_by": f"a fresh {field} per request"}
    if not server.attached:
        server.stop()  # free the cores (or the card) for the next server; the pool keeps a shared one for later days
    no_cache = launch_variant(ctx, model_arg, "no-prefix-caching", enable_prefix_caching=False)
    try:
        row = prefix_run(no_cache, samples, out_dir, "shared-prefix", False)
    finally:
        no_cache.stop()
    return {**row, "caching_off_by": "a server started without prefix caching"}


def session_rows(server: Server, settings: Day3Settings, out_dir: Path,
                 tokenizer_dir: str | Path | None) -> list[dict[str, Any]]:  # fmt: skip
    """Multi-turn chats on ``server`` (``playbook.load.sessions``), the traffic a prefix cache exists for: each
    turn's TTFT and the cache's hit rate during it, labelled with the engine. Turn 1 has nothing to reuse; from
    turn 2 on, each request resends its whole conversation, so the hit rate should rise and TTFT stay flat while
    the prompts grow."""
    chats = SessionSettings(conversations=settings.session_conversations, turns=settings.session_turns,
                            think_s=settings.session_think_s, input_tokens=settings.session_input_tokens,
                            output_tokens=settings.session_output_tokens)  # fmt: skip
    turns = run_sessions(server.endpoint, chats, out_dir, tokenizer_dir)
    return [{"engine": server.engine, **asdict(turn)} for turn in turns]


def structured_sweep(
    server: Server, sets: TaskSets, out_dir: Path, settings: Day3Settings, backend: str, label: str
) -> tuple[list[dict[str, Any]], dict[tuple[bool, int], list[Score]]]:  # fmt: skip
    """The structured runs at every concurrency, without and with the constraint, each on its own task set, into
    ``out_dir/structured-<label>-<constrained>-c<concurrency>``: the rows (labelled with the server's engine and
    ``backend``) and each run's scores by (constrained, concurrency)."""
    rows, scores_by_run = [], {}
    for concurrency in settings.concurrency:
        for constrained in (False, True):
            folder = out_dir / f"structured-{label}-{constrained}-c{concurrency}"
            result, scores, cache_use = structured_run(server, server.engine, sets[(constrained, concurrency)],
                                                       constrained, concurrency, folder, settings)  # fmt: skip
            rows.append(structured_row(server.engine, backend, constrained, concurrency, result, scores, cache_use))
            scores_by_run[(constrained, concurrency)] = scores
    return rows, scores_by_run


def engine_rows(server: Server, sets: TaskSets, shared: list, out_dir: Path, settings: Day3Settings) -> list[dict]:
    """Another engine's side of the comparison, on its own server with its default grammar backend: the structured
    sweep on the main server's task sets, then the shared-prefix workload with caching on. Rows are labelled with
    the server's engine, and the requests carry that engine's constraint fields."""
    rows, _ = structured_sweep(server, sets, out_dir, settings, "default", server.engine)
    rows.append(prefix_run(server, shared, out_dir / f"prefix-shared-{server.engine}", "shared-prefix", True))
    return rows


def comparison_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def plot_comparison(rows: list[dict[str, Any]]) -> plt.Figure:
    """Left: TPOT p50 (ms) with and without the grammar, per engine and concurrency. Right: shared-prefix TTFT p50
    (ms) with prefix caching on and off, per engine: the two questions Day 3 asks, side by side."""
    frame = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    structured = frame[frame["workload"] == "structured"]
    if not structured.empty:
        label = structured["engine"] + " c=" + structured["concurrency"].astype(str)
        table = structured.assign(
            label=label, grammar=structured["constrained"].map({True: "JSON schema", False: "prompt only"})
        )
        table.pivot_table(index="label", columns="grammar", values="tpot_p50_ms").plot.bar(ax=axes[0], rot=0)
    axes[0].set(ylabel="TPOT p50 (ms)", xlabel="", title="Structured output: the grammar's cost per token")
    shared = frame[frame["workload"] == "shared-prefix"]
    if not shared.empty:
        caching = shared["prefix_caching"].map({True: "caching on", False: "caching off"})
        shared.assign(caching=caching).pivot_table(index="engine", columns="caching", values="ttft_p50_ms").plot.bar(
            ax=axes[1], rot=0
        )
    axes[1].set(ylabel="TTFT p50 (ms)", xlabel="", title="Shared system prompt: what prefix caching saves")
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def answer_text(truth: object) -> str:
    """A task's known answer as a reader meets it: JSON for an object (not a Python dict), the text otherwise."""
    return json.dumps(truth, ensure_ascii=False) if isinstance(truth, dict | list) else str(truth)
