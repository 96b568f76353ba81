"""Day 6 measurements: which adapter answered (by behaviour), runtime load/unload, and mixed
traffic over adapters with the Day 7 load generator."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import matplotlib.pyplot as plt
import pandas as pd

from playbook.core.profiles import Day6Settings
from playbook.days.context import DayContext, launch_variant
from playbook.days.lora import QUESTIONS, Behaviour, has_behaviour, lora_server_args
from playbook.load.datasets import SampleRequest
from playbook.load.loadgen import LoadConfig, run_load
from playbook.serving.engines import get_engine
from playbook.serving.launcher import Server

HELD_OUT_TOPICS = ("rivers", "chess", "bread", "volcanoes", "trains", "music", "glaciers", "bees", "bridges", "tea")


def held_out_questions(n: int) -> list[str]:
    """Questions on topics the adapters never saw in training."""
    return [QUESTIONS[i % len(QUESTIONS)].format(HELD_OUT_TOPICS[i % len(HELD_OUT_TOPICS)]) for i in range(n)]


def answer(server: Server, model: str, question: str, max_tokens: int,
           extra: dict[str, Any] | None = None) -> str:  # fmt: skip
    headers = server.endpoint.headers
    body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
            "temperature": 0, **(extra or {})}  # fmt: skip
    response = httpx.post(server.api_url + "/chat/completions", json=body, headers=headers, timeout=300)
    response.raise_for_status()
    return response.json()["choices"][0]["message"]["content"] or ""


def behaviour_rates(server: Server, models: list[str], behaviours: dict[str, Behaviour], questions: list[str],
                    max_tokens: int) -> list[dict[str, Any]]:  # fmt: skip
    """For each served name, the share of answers showing each adapter's behaviour. A model's questions go out
    together (one at a time, 24 answers took 16 s of the day on 2 cores)."""
    rows = []
    for model in models:
        with ThreadPoolExecutor(max_workers=len(questions)) as pool:
            answers = list(pool.map(lambda q, m=model: answer(server, m, q, max_tokens), questions))
        row: dict[str, Any] = {"model": model, "answers": len(answers), "example": answers[0][:60]}
        for adapter, behaviour in behaviours.items():
            row[f"{adapter} behaviour"] = sum(has_behaviour(behaviour, a) for a in answers) / len(answers)
        rows.append(row)
    return rows


def load_adapter(server: Server, name: str, path: Path) -> httpx.Response:
    """POST /v1/load_lora_adapter (needs VLLM_ALLOW_RUNTIME_LORA_UPDATING=True on the server)."""
    headers = server.endpoint.headers
    return httpx.post(server.api_url + "/load_lora_adapter", json={"lora_name": name, "lora_path": str(path)},
                      headers=headers, timeout=120)  # fmt: skip


def unload_adapter(server: Server, name: str) -> httpx.Response:
    headers = server.endpoint.headers
    return httpx.post(server.api_url + "/unload_lora_adapter", json={"lora_name": name}, headers=headers, timeout=60)


def mixed_samples(questions: list[str], weights: dict[str, float], n: int, max_tokens: int,
                  seed: int) -> list[SampleRequest]:  # fmt: skip
    """``n`` requests whose ``model`` field is drawn from ``weights`` (base model or adapter names)."""
    rng = random.Random(seed)
    names, shares = list(weights), list(weights.values())
    samples = []
    for i in range(n):
        model = rng.choices(names, shares)[0]
        messages = [{"role": "user", "content": questions[i % len(questions)]}]
        samples.append(SampleRequest(messages, max_tokens, 16, {"model": model}))
    return samples


def traffic_mixes(base: str, adapters: list[str], settings: Day6Settings) -> dict[str, dict[str, float]]:
    """Base alone, uniform over the adapters, and skewed (one hot adapter)."""
    uniform = {a: 1 / len(adapters) for a in adapters}
    hot = {a: (settings.skew_hot_share if i == 0 else (1 - settings.skew_hot_share) / (len(adapters) - 1))
           for i, a in enumerate(adapters)}  # fmt: skip
    return {"base only": {base: 1.0}, "uniform over adapters": uniform, "skewed (one hot adapter)": hot}


def run_mixes(server: Server, base: str, mixes: dict[str, dict[str, float]], questions: list[str],
              settings: Day6Settings, seed: int, out_dir: Path, label: str = "") -> list[dict[str, Any]]:  # fmt: skip
    """Each traffic mix through Day 7's load generator, one row a mix: the same requests, warm-up and columns for
    every engine, so Day 6's vLLM and SGLang tables compare like with like. Each mix is warmed with one full
    batch of its own requests: the first batch that mixes adapters pays one-time kernel compilation on a GPU."""
    rows = []
    for name, weights in mixes.items():
        samples = mixed_samples(questions, weights, settings.load_requests, settings.load_max_tokens, seed)
        config = LoadConfig(concurrency=settings.load_concurrency, warmup_requests=settings.load_concurrency,
                            scrape_interval_s=None)  # fmt: skip
        desc = f"{label}: {name}" if label else name
        result = run_load(server.endpoint.with_model(base), config, samples, out_dir / f"load-{len(rows)}", desc=desc)
        s = result.summary
        rows.append({"traffic": name, "requests": s.requests, "ok": s.successes, "ttft_p50_ms": s.ttft.p50_ms,
                     "tpot_p50_ms": s.tpot.p50_ms, "e2e_p99_ms": s.e2e.p99_ms,
                     "output_tok_s": s.output_throughput_tok_s, "status": result.status})  # fmt: skip
    return rows


def plot_adapters(rates: pd.DataFrame, load_rows: list[dict[str, Any]]) -> plt.Figure:
    """Left: each model's share of answers showing each adapter's behaviour (routing, in %). Right: output
    tokens/s for each traffic mix (what serving adapters beside the base model costs)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    (100 * rates.select_dtypes("number")).plot.bar(ax=axes[0], rot=0)
    axes[0].set(ylabel="answers showing the behaviour (%)", xlabel="model requested", title="Routing by behaviour")
    traffic = pd.DataFrame(load_rows).set_index("traffic")["output_tok_s"]
    traffic.plot.barh(ax=axes[1])
    axes[1].set(xlabel="output tokens/s", ylabel="", title="Mixed traffic")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class EngineLora:
    """Another engine serving the same adapters: which ``model`` names route to them, and mixed traffic."""

    engine: str
    flags: list[str]
    names: dict[str, dict[str, str]]  # naming form -> adapter -> the model field sent
    routing: list[dict[str, Any]]  # behaviour shares per model field sent
    routes: dict[str, bool]  # naming form -> every adapter's behaviour shows at min_routing_rate
    mixed_traffic: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def naming_forms(engine: str, base: str, adapters: list[str]) -> dict[str, dict[str, str]]:
    """The ``model`` field per adapter: the bare adapter name (vLLM's way) and the engine's own form."""
    adapter = get_engine(engine)
    own = {a: adapter.lora_model(base, a) for a in adapters}
    forms = {"model=<adapter>": {a: a for a in adapters}}
    if own != forms["model=<adapter>"]:
        forms[f"{engine}'s form ({adapter.lora_model(base, '<adapter>')})"] = own
    return forms


def measure_engine_lora(server: Server, engine: str, flags: list[str], base: str, behaviours: dict[str, Behaviour],
                        questions: list[str], settings: Day6Settings, seed: int,
                        out_dir: Path) -> EngineLora:  # fmt: skip
    """Routing by behaviour under each naming form, then base-only and uniform-over-adapters traffic sent with
    the form that routes (the engine's own when neither does, so the cost is still measured)."""
    adapters = list(behaviours)
    forms = naming_forms(engine, base, adapters)
    sent = [base, *(name for form in forms.values() for name in form.values())]
    rows = behaviour_rates(server, sent, behaviours, questions, settings.behaviour_max_tokens)
    share = {row["model"]: row for row in rows}
    routes = {form: all(share[names[a]][f"{a} behaviour"] >= settings.min_routing_rate for a in adapters)
              for form, names in forms.items()}  # fmt: skip
    routing_names = next((forms[f] for f, ok in routes.items() if ok), list(forms.values())[-1])
    every_mix = traffic_mixes(base, [routing_names[a] for a in adapters], settings)
    mixes = {name: every_mix[name] for name in ("base only", "uniform over adapters")}
    traffic = run_mixes(server, base, mixes, questions, settings, seed, out_dir, label=engine)
    return EngineLora(engine, flags, forms, rows, routes, traffic)


def measure_beside(ctx: DayContext, engine: str, model_arg: str, adapters: dict[str, Path],
                   behaviours: dict[str, Behaviour], questions: list[str]) -> EngineLora:  # fmt: skip
    """The day's adapters served by another engine, on a server of its own (start it once the day's own server has
    stopped: one engine on the card at a time), measured as :func:`measure_engine_lora` does."""
    profile, settings = ctx.profile, ctx.profile.days.day6
    flags = lora_server_args(adapters, settings.max_loras, settings.max_lora_rank, engine=engine)
    print(f"extra {engine} arguments:", " ".join(flags))
    server = launch_variant(ctx, model_arg, f"{engine}-lora", engine=engine,
                            extra_args=[*profile.engines[engine].extra_args, *flags])  # fmt: skip
    try:
        return measure_engine_lora(server, engine, flags, profile.model.served_name, behaviours, questions, settings,
                                   profile.seed, ctx.output_dir / engine)  # fmt: skip
    finally:
        server.stop()


def lora_flags_or_why(adapters: dict[str, Path], settings: Day6Settings, engine: str) -> list[str]:
    """The engine's multi-LoRA flags for these adapters, shown where the engine cannot run here; a sentence in
    their place when the playbook does not know that engine's flags."""
    try:
        return lora_server_args(adapters, settings.max_loras, settings.max_lora_rank, engine=engine)
    except NotImplementedError as exc:
        return [f"({exc})"]
