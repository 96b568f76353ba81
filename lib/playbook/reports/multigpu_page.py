"""The multi-GPU report: the JSON files of :mod:`playbook.run.multigpu` → one summary
(``multigpu.json``) and a page people read (``report.html``).

Every number comes from the run's files: the load generator's levels, the KV capacity the
engine reported, the utilization vLLM logged. The pre-flight is recomputed here with the
utilization that actually ran, so its error is stated against what the engine did.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from playbook.core.profiles import load_profile
from playbook.reports.html import render as render_template
from playbook.reports.paths import scrub_html
from playbook.reports.plots import concurrency_axis, figure_png
from playbook.serving.engines import get_engine
from playbook.sizing.memory import plan_for
from playbook.sizing.models import prepare_model

# H100 SXM 80GB HBM3 datasheet bandwidth; the device tool measured ~3.0 TB/s in a copy (read + write).
HBM_BYTES_PER_S = {"NVIDIA H100 80GB HBM3": 3.35e12}
OOM_LOG = re.compile(r"(torch\.OutOfMemoryError: CUDA out of memory\.[^(]*)")


RESULTS_WITHOUT_ENGINE = "vllm"  # the engine of every variant recorded before results named theirs


def effective_utilization(result: dict[str, Any], log_text: str, engine_version: str | None) -> float | None:
    """The memory share the engine ran with: recorded with the result (the launcher always passes it), or, for
    results recorded before that, what the engine's log says (its adapter knows how to read it)."""
    recorded = result.get("gpu_memory_utilization")
    if recorded is not None:
        return recorded
    return get_engine(engine_of(result)).utilization_from_log(log_text, engine_version)


def engine_of(result: dict[str, Any]) -> str:
    """The engine a variant ran; results recorded before variants named one (2026-11-25) were all vLLM's."""
    return result.get("engine") or RESULTS_WITHOUT_ENGINE


def summarize_variant(result: dict[str, Any], log_text: str, vllm_version: str | None) -> dict[str, Any]:
    util = effective_utilization(result, log_text, vllm_version)
    engine = engine_of(result)
    overrides = (
        {**result["overrides"], f"engines.{engine}.gpu_memory_utilization": util} if util else result["overrides"]
    )
    profile = load_profile(result["profile"], overrides)
    plan = plan_for(profile, prepare_model(profile.model))
    spec = profile.engine_spec
    replicas = spec.data_parallel_size
    per_replica = result.get("kv_capacity_tokens_reported")
    reported_total = per_replica * replicas if per_replica else None
    shards = spec.tensor_parallel_size * spec.pipeline_parallel_size
    bandwidth = HBM_BYTES_PER_S.get(profile.hardware.device_name)
    roofline_ms = plan.weight_bytes / shards / bandwidth * 1e3 if bandwidth else None
    error_pct = round(100 * (plan.kv_capacity_tokens / reported_total - 1), 1) if reported_total else None
    c1 = next((lv for lv in result["levels"] if lv["concurrency"] == 1), None)
    oom = OOM_LOG.search(log_text)
    return {
        "variant": result["variant"], "engine": result["engine"], "profile": result["profile"],
        "tensor_parallel": spec.tensor_parallel_size, "data_parallel": replicas, "gpus": result["gpus"],
        "gpu_memory_utilization": util, "status": result["status"], "startup_s": result.get("startup_s"),
        "kv_tokens_reported": reported_total, "kv_tokens_preflight": plan.kv_capacity_tokens,
        "preflight_error_pct": error_pct,
        "preflight_fits": plan.fits, "preflight_problems": list(plan.problems),
        "tpot_c1_ms": c1["tpot_p50_ms"] if c1 else None, "roofline_tpot_ms": roofline_ms,
        "weights_gib_per_gpu": plan.weight_bytes / shards / 2**30,
        "failure": oom.group(1).strip() if oom else (result.get("error", "")[:300] or None),
        "note": result.get("note"), "levels": result["levels"], "argv": result.get("argv"),
    }  # fmt: skip


def collect(results_dir: Path) -> dict[str, Any]:
    environment = json.loads((results_dir / "environment.json").read_text())
    variants = []
    for path in sorted(results_dir.glob("*.json")):
        if path.name == "environment.json":
            continue
        result = json.loads(path.read_text())
        log = path.with_suffix(".log")
        log_text = log.read_text(errors="replace") if log.exists() else ""
        variants.append(summarize_variant(result, log_text, environment.get(engine_of(result))))
    day7 = load_profile(variants[0]["profile"]).days.day7
    workload = {"dataset": day7.dataset, "input_tokens": day7.input_tokens, "output_tokens": day7.output_tokens}
    return {"environment": environment, "dummy_weights": True, "workload": workload, "variants": variants}


def levels_frame(summary: dict[str, Any]) -> pd.DataFrame:
    rows = [{"variant": v["variant"], **lv} for v in summary["variants"] for lv in v["levels"]]
    return pd.DataFrame(rows)


def scaling_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """Each multi-GPU variant's output throughput against twice its engine's one-GPU variant at the same
    concurrency: 1.0 is perfect scaling (two cards, twice the tokens); the one-card run of the same engine, model
    and workload is the baseline, so an engine is never scaled against another."""
    rows = []
    variants = [v for v in summary["variants"] if v["status"] == "ok"]
    for v in variants:
        single = next((s for s in variants if s["engine"] == v["engine"] and s["gpus"] == 1
                       and s["profile"] == v["profile"]), None)  # fmt: skip
        if v["gpus"] < 2 or single is None:
            continue
        base = {lv["concurrency"]: lv.get("output_tok_s") for lv in single["levels"]}
        for lv in v["levels"]:
            one = base.get(lv["concurrency"])
            if one and lv.get("output_tok_s"):
                rows.append({"variant": v["variant"], "engine": v["engine"], "concurrency": lv["concurrency"],
                             "output_tok_s": lv["output_tok_s"], "one_gpu_tok_s": one,
                             "efficiency": lv["output_tok_s"] / (v["gpus"] * one)})  # fmt: skip
    return pd.DataFrame(rows)


def plot_curves(frame: pd.DataFrame) -> plt.Figure:
    fig, (tput, tpot) = plt.subplots(1, 2, figsize=(11, 4))
    for name, group in frame.groupby("variant"):
        tput.plot(group["concurrency"], group["output_tok_s"], marker="o", label=name)
        tpot.plot(group["concurrency"], group["tpot_p50_ms"], marker="o", label=name)
    tput.set(title="Output throughput", ylabel="tokens/s", xlabel="concurrent requests")
    tpot.set(title="TPOT p50", ylabel="ms", xlabel="concurrent requests")
    for ax in (tput, tpot):
        concurrency_axis(ax, sorted(frame["concurrency"].unique()))
        ax.grid(alpha=0.3)
    tput.legend()
    return fig


def render(summary: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "multigpu.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    frame = levels_frame(summary)
    table = frame.pivot_table(index="concurrency", columns="variant", values="output_tok_s").round(0)
    scaling = scaling_frame(summary)
    scaling_table = (scaling.pivot_table(index="concurrency", columns="variant", values="efficiency").round(2)
                     .to_html(classes="numbers", border=0) if not scaling.empty else None)  # fmt: skip
    html = render_template("multigpu.html.j2",
        summary=summary, curves_png=figure_png(plot_curves(frame)), scaling_table=scaling_table,
        throughput_table=table.to_html(classes="numbers", border=0),
        levels_table=frame.round(1).to_html(index=False, classes="numbers", border=0),
    )  # fmt: skip
    path = out_dir / "report.html"
    path.write_text(scrub_html(html, run_dir=out_dir))  # the argv of each variant names the machine's interpreter
    return path


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Build the multi-GPU report from playbook.run.multigpu's files")
    parser.add_argument("results", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(render(collect(args.results), args.out))


if __name__ == "__main__":
    main()
