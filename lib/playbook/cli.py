"""``playbook``: run the week, prepare models, check memory, list profiles.

Every command validates its input first and exits with code 2 and a one-line reason
(plus detail) on a :class:`PlaybookError`, before anything expensive starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import UnionType
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel

from playbook.core.errors import PlaybookError
from playbook.core.profiles import TRACE_PREFIX, list_profiles, load_profile
from playbook.load.baseline import BaselineIdentity
from playbook.load.loadgen import LoadConfig
from playbook.load.metrics import LatencySummary
from playbook.load.ratesweep import RateSearchSettings
from playbook.load.sessions import SessionSettings
from playbook.serving.endpoint import Endpoint, key_from_env

# Shorter names the loadtest flags had before they were generated from LoadConfig; both spellings work.
LOADTEST_ALIASES = {"warmup_requests": "--warmup", "request_timeout_s": "--request-timeout",
                    "max_duration_s": "--max-duration"}  # fmt: skip


def _dataset(name: str) -> str:
    """``--dataset``: a known name or ``file:PATH``, checked before any request is built."""
    from playbook.core.profiles import dataset_problem

    problem = dataset_problem(name)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return name


def _add_profile_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu-smollm2", help="profile name under params/ or a YAML path")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a profile value, e.g. --set engines.vllm.dtype=bfloat16 (repeatable)",
    )  # fmt: skip


def cmd_run(args: argparse.Namespace) -> int:
    from playbook.reports.run_manifest import read_manifest
    from playbook.run.runner import parse_days, run_playbook

    days = parse_days(args.days)
    run_dir = run_playbook(args.profile, days, args.overrides, Path(args.outputs), args.cell_timeout)
    manifest = read_manifest(run_dir / "manifest.json")
    print(f"\nrun {manifest.run_id} ({manifest.status}): {run_dir}")
    for day in manifest.days:
        print(f"  Day {day.day}: {day.status}  {run_dir / (day.folder or '') / 'report.html'}")
        if day.error:
            print(f"    {day.error.splitlines()[-1][:300]}")
    print(f"index: {Path(args.outputs) / 'index.html'}")
    return 0 if manifest.status == "ok" else 1


def cmd_rerun(args: argparse.Namespace) -> int:
    """Repeat a recorded run (same profile file, overrides and days) into a new run id."""
    from playbook.reports.layout import find_run
    from playbook.reports.run_manifest import read_manifest

    manifest = read_manifest(find_run(Path(args.outputs), args.run_id) / "manifest.json")
    days = ",".join(str(d.day) for d in manifest.days if d.day is not None) or "all"
    print(f"rerunning {manifest.run_id}: profile {manifest.profile_file}, days {days}, overrides {manifest.overrides}")
    args.profile, args.overrides, args.days = manifest.profile_file, manifest.overrides, days
    return cmd_run(args)


def cmd_prepare_model(args: argparse.Namespace) -> int:
    from playbook.sizing.models import prepare_model

    profile = load_profile(args.profile, args.overrides)
    print(json.dumps(prepare_model(profile.model).to_dict(), indent=2))
    return 0


def cmd_preflight(args: argparse.Namespace) -> int:
    from playbook.run.runner import preflight

    profile = load_profile(args.profile, args.overrides)
    result = preflight(profile)
    print(json.dumps(result, indent=2))
    return 0


def cmd_profiles(args: argparse.Namespace) -> int:
    for name in list_profiles():
        profile = load_profile(name)
        print(f"{name:20s} {profile.engine:7s} {profile.hardware.device_name}: {profile.description}")
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    """outputs/index.html (every run), or with --references the committed references' front page."""
    from playbook.reports.index import write_index
    from playbook.reports.reference_page import rerender_raw_reports, write_reference_page

    if args.references:
        for report in rerender_raw_reports(Path(args.references)):
            print(f"re-rendered in the report form: {report}")
    print(write_reference_page(Path(args.references)) if args.references else write_index(Path(args.outputs)))
    return 0


M = TypeVar("M", bound=BaseModel)


def endpoint_of(args: argparse.Namespace) -> Endpoint:
    """The endpoint the client commands load: --base-url, --model and the key named by --api-key-env."""
    return Endpoint(args.base_url, args.model, key_from_env(args.api_key_env, "--api-key-env"))


def add_endpoint_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", required=True, help="the server root, e.g. http://127.0.0.1:8000 (no /v1)")
    parser.add_argument("--model", required=True, help="the served model name requests carry (see /v1/models)")


def add_client_flags(parser: argparse.ArgumentParser, out_help: str) -> None:
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder for exact lengths (else ~4 chars/token)")
    parser.add_argument("--api-key-env", default=None, help="name of the env var holding the API key")
    parser.add_argument("--out", default=None, help=out_help)


def from_flags(model: type[M], args: argparse.Namespace) -> M:
    """A settings model from its flags; a bad value is one line naming the flag (``--request-rate: ...``)."""
    from pydantic import ValidationError

    try:
        return model(**{name: getattr(args, name) for name in model.model_fields})
    except ValidationError as exc:
        raise PlaybookError("; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}"
                                      for e in exc.errors())) from None  # fmt: skip


def out_dir_of(args: argparse.Namespace) -> Path:
    """--out, or a fresh folder under outputs/loadtests/."""
    from playbook.reports import layout

    return Path(args.out) if args.out else layout.loadtest_dir(Path("outputs"))


def cmd_loadtest(args: argparse.Namespace) -> int:
    """Any OpenAI-compatible endpoint: JSONL records, summary.json and plots in --out."""
    from playbook.load.datasets import build_requests
    from playbook.load.loadgen import run_load
    from playbook.reports.plots import plot_cdfs, plot_server_timeline

    if args.dataset.startswith(TRACE_PREFIX):  # a trace brings its own send times: open loop, at those times
        args.mode, args.arrival = "open", "trace"
    config = from_flags(LoadConfig, args)
    endpoint = endpoint_of(args)
    out = out_dir_of(args)
    samples = build_requests(args.dataset, args.requests, args.seed, args.tokenizer, input_tokens=args.input_tokens,
                             output_tokens=args.output_tokens, max_prompt_tokens=args.max_prompt_tokens)  # fmt: skip
    result = run_load(endpoint, config, samples, out, desc=f"c={args.concurrency}")
    print("\n" + result.summary.format_text())
    if result.error:
        print(f"status: {result.status}: {result.error}")
    plot_cdfs({f"c={args.concurrency}": result.requests_path}).savefig(out / "cdf.png", dpi=100)
    timeline = plot_server_timeline(result.server_metrics_path)
    if timeline is not None:
        timeline.savefig(out / "server_timeline.png", dpi=100)
    print(f"records: {result.requests_path}\nsummary: {out / 'summary.json'}")
    return 0 if result.status == "ok" else 1


def cmd_sessions(args: argparse.Namespace) -> int:
    """N chats of K turns in lockstep: each turn's TTFT and the prefix cache's hit rate, in --out."""
    from playbook.load.sessions import format_rows, run_sessions

    settings = from_flags(SessionSettings, args)
    endpoint = endpoint_of(args)
    out = out_dir_of(args)
    rows = run_sessions(endpoint, settings, out, args.tokenizer)
    print("\n" + format_rows(rows) + f"\nper turn: {out}/turn-<k>/; all turns: {out / 'sessions.json'}")
    return 0 if all(r.ok == r.requests for r in rows) else 1


def cmd_ratesweep(args: argparse.Namespace) -> int:
    """Open-loop steps, doubling then bisecting, to the highest rate whose goodput holds; table and chart in --out."""
    from playbook.load.datasets import build_requests
    from playbook.load.ratesweep import find_max_rate, format_search, plot_search
    from playbook.load.sweep import PromptPool

    settings = from_flags(RateSearchSettings, args)
    if args.dataset.startswith(TRACE_PREFIX):
        raise PlaybookError("--dataset trace:PATH has its own times: replay it with loadtest, not ratesweep")
    endpoint = endpoint_of(args)
    out = out_dir_of(args)
    pool = PromptPool(build_requests(args.dataset, settings.max_steps * settings.max_requests, settings.seed,
                                     args.tokenizer, input_tokens=args.input_tokens,
                                     output_tokens=args.output_tokens))  # fmt: skip
    search = find_max_rate(endpoint, settings, pool.take, out)
    print("\n" + format_search(search))
    plot_search(search, settings).savefig(out / "ratesweep.png", dpi=100)
    print(f"steps: {out}/rate-<k>/; all: {out / 'ratesweep.json'}; chart: {out / 'ratesweep.png'}")
    return 0 if search.max_sustained_rps is not None else 1


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 when healthy; else 1 with a one-line reason (JSON with --json)."""

    from playbook.serving.healthcheck import run_healthcheck

    api_key = key_from_env(args.api_key_env, "--api-key-env")
    report = run_healthcheck(args.base_url, args.model, args.prompt, args.expect, args.max_latency_ms, api_key,
                             args.timeout)  # fmt: skip
    print(report.to_json() if args.json else report.one_line())
    return 0 if report.ok else 1


def cmd_k8s(args: argparse.Namespace) -> int:
    """render: print (or write) the manifests; validate: check YAML files offline."""
    import yaml

    from playbook.serving import k8s

    if args.action == "render":
        profile = load_profile(args.profile, args.overrides)
        documents = k8s.render(profile, args.flavor, args.engine)
        problems = k8s.validate_all(documents)
        text = k8s.to_yaml(documents)
        if args.out:
            Path(args.out).write_text(text)
            print(f"wrote {args.out}")
        else:
            print(text, end="")
    else:
        problems = []
        for path in args.files:
            try:
                documents = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                raise PlaybookError(f"{path}: cannot be read as YAML ({' '.join(str(exc).split())[:300]})") from None
            problems += [f"{path}: {p}" for p in k8s.validate_all(documents)]
    for problem in problems:
        print(f"INVALID {problem}", file=sys.stderr)
    return 1 if problems else 0


def _day7_run(run_dir: Path) -> tuple[BaselineIdentity, LatencySummary]:
    """The identity and 1000-concurrent summary of a run's Day 7, read as its typed result."""
    from playbook.reports.results import Day7Result, load_day_result

    metrics_path = Path(run_dir) / "day07" / "metrics.json"
    if not metrics_path.exists():
        raise PlaybookError(f"{metrics_path} does not exist: pass a run folder whose Day 7 ran")
    result = load_day_result(metrics_path)
    steps = result.steps if isinstance(result, Day7Result) else None
    if steps is None or steps.peak is None or steps.baseline_identity is None:
        raise PlaybookError(f"{metrics_path} has no complete 1000-concurrent result to use as a baseline")
    return steps.baseline_identity, steps.peak.summary


def cmd_baseline(args: argparse.Namespace) -> int:
    from playbook.core.profiles import load_profile as _load
    from playbook.load import baseline
    from playbook.reports import layout

    identity, summary = _day7_run(Path(args.run))
    path = layout.baseline_path(Path(args.outputs), identity.profile)
    if args.action == "save":
        baseline.save_baseline(baseline.make_baseline(identity, summary, str(args.run)), path)
        print(f"baseline saved: {path}")
        return 0
    threshold = args.threshold or _load(identity.profile).days.day7.regression_threshold_pct
    comparison = baseline.compare(baseline.load_baseline(path), identity, summary, threshold)
    print(comparison.format_text())
    return 1 if comparison.regressed else 0


def _add_model_flags(parser: argparse.ArgumentParser, model: type[BaseModel], required: set[str],
                     defaults: dict[str, Any], aliases: dict[str, str]) -> None:  # fmt: skip
    """One ``--flag`` per field of a pydantic model, with the model's defaults and descriptions, so the
    CLI and the library cannot drift apart (the model validates the values afterwards)."""
    for name, field in model.model_fields.items():
        flags = [f"--{name.replace('_', '-')}", *([aliases[name]] if name in aliases else [])]
        kind = _flag_type(field.annotation)
        options: dict[str, Any] = {"dest": name, "help": field.description}
        if name in required:
            options["required"] = True
        else:
            options["default"] = defaults.get(name, field.default)
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif get_origin(kind) is Literal:
            options["choices"] = list(get_args(kind))
        else:
            options["type"] = kind
        parser.add_argument(*flags, **options)


def _flag_type(annotation: Any) -> Any:
    """``float | None`` -> float; a Literal stays itself (its values become the choices)."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    return args[0] if get_origin(annotation) in (Union, UnionType) and len(args) == 1 else annotation


def cmd_setup(args: argparse.Namespace) -> int:
    """Create the profile's environments, each in its own venv from its own lock (``--dry-run``: print the plan)."""
    import subprocess

    from playbook.core.profiles import REPO_ROOT, load_profile
    from playbook.run import setup

    envs = setup.plan(load_profile(args.profile))
    for env in envs:
        print(f"# {env.name}: {env.venv} from requirements/{env.lock} ({env.why})")
        for step in env.commands():
            print("  " + " ".join(step))
            if args.dry_run or (step[1:3] == ["-m", "venv"] and (REPO_ROOT / env.venv / "bin" / "python").exists()):
                continue
            subprocess.run(step, cwd=REPO_ROOT, check=True)
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    """Write a run's article-ledger page, or check the ledger against the article (exit 1 on a problem)."""
    from playbook.reports import ledger

    book = ledger.load_ledger()
    if args.check:
        found = ledger.problems(book, ledger.article_lines())
        changed = ledger.article_changed(book)
        for problem in found + ([changed] if changed else []):
            print(f"LEDGER {problem}", file=sys.stderr)
        print(f"{len(book.entries)} entries; {len(found) + bool(changed)} problems")
        return 1 if found or changed else 0
    if not args.run:
        raise PlaybookError("ledger: give --run <run folder> (write its page) or --check (check the ledger)")
    run_dir = Path(args.run)
    if not (run_dir / "manifest.json").exists():
        raise PlaybookError(f"--run {run_dir}: no manifest.json there; pass a run folder, e.g. outputs/<date>/run-0001")
    print(f"wrote {ledger.write_ledger_page(run_dir)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="playbook", description="LLM Inference Playbook")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute the days' notebooks into outputs/<date>/<run-id>/")
    _add_profile_args(run)
    run.add_argument("--days", default="all", help="comma-separated day numbers, or 'all'")
    run.add_argument("--outputs", default="outputs", help="reports folder (default: outputs)")
    run.add_argument("--cell-timeout", type=int, default=None, help="papermill per-cell timeout in seconds")
    run.set_defaults(func=cmd_run)

    rerun = sub.add_parser("rerun", help="repeat a recorded run into a new run id")
    rerun.add_argument("run_id", help="e.g. run-0003")
    rerun.add_argument("--outputs", default="outputs")
    rerun.add_argument("--cell-timeout", type=int, default=None)
    rerun.set_defaults(func=cmd_rerun)

    prep = sub.add_parser("prepare-model", help="prepare (and cache) the profile's model folder")
    _add_profile_args(prep)
    prep.set_defaults(func=cmd_prepare_model)

    pre = sub.add_parser("preflight", help="memory pre-flight: does the model and its KV cache fit?")
    _add_profile_args(pre)
    pre.set_defaults(func=cmd_preflight)

    load = sub.add_parser("loadtest", help="load-test any OpenAI-compatible endpoint")
    add_endpoint_flags(load)
    _add_model_flags(load, LoadConfig, required=set(), defaults={"concurrency": 8}, aliases=LOADTEST_ALIASES)
    load.add_argument("--requests", type=int, default=100)
    load.add_argument(
        "--dataset",
        type=_dataset,
        default="sharegpt",
        help="sharegpt, synthetic, shared-prefix, file:PATH (JSONL of chat messages, ShareGPT JSON), or trace:PATH "
        "(JSONL of arrival_s, input_tokens, output_tokens: replayed at its times, see --trace-speed)",
    )
    load.add_argument("--input-tokens", type=int, default=256, help="synthetic: prompt length")
    load.add_argument("--output-tokens", type=int, default=128, help="tokens to generate (sharegpt: the cap)")
    load.add_argument("--max-prompt-tokens", type=int, default=1024, help="sharegpt: longest prompt kept")
    add_client_flags(load, "folder for records and plots")
    load.set_defaults(func=cmd_loadtest)

    chats = sub.add_parser("sessions", help="multi-turn chats: per-turn TTFT and prefix-cache hit rate")
    add_endpoint_flags(chats)
    _add_model_flags(chats, SessionSettings, required=set(), defaults={}, aliases={})
    add_client_flags(chats, "folder for each turn's records and sessions.json")
    chats.set_defaults(func=cmd_sessions)

    rates = sub.add_parser("ratesweep", help="the highest request rate that meets the SLOs (open loop, search)")
    add_endpoint_flags(rates)
    _add_model_flags(rates, RateSearchSettings, required=set(), defaults={}, aliases={})
    rates.add_argument("--dataset", type=_dataset, default="synthetic", help="as loadtest's (not trace:)")
    rates.add_argument("--input-tokens", type=int, default=256, help="synthetic: prompt length")
    rates.add_argument("--output-tokens", type=int, default=128, help="tokens to generate (sharegpt: the cap)")
    add_client_flags(rates, "folder for each step's records, ratesweep.json and the chart")
    rates.set_defaults(func=cmd_ratesweep)

    base = sub.add_parser("baseline", help="save a run's Day 7 numbers as baseline, or compare a run with it")
    base.add_argument("action", choices=["save", "compare"])
    base.add_argument("--run", required=True, help="a run folder, e.g. outputs/2026-11-25/run-0003")
    base.add_argument("--outputs", default="outputs")
    base.add_argument("--threshold", type=float, default=None, help="percent; default: the profile's")
    base.set_defaults(func=cmd_baseline)

    health = sub.add_parser("healthcheck", help="CI/CD check: /health, /v1/models, one answer within a budget")
    health.add_argument("--base-url", required=True, help="server root, e.g. http://vllm.llm-serving.svc")
    health.add_argument("--model", default=None, help="must be listed by /v1/models (default: the first listed)")
    health.add_argument("--prompt", default="What is the capital of France?")
    health.add_argument("--expect", default="Paris", help="text the answer must contain (case-insensitive)")
    health.add_argument("--max-latency-ms", type=float, default=None, help="budget for the whole answer")
    health.add_argument("--api-key-env", default=None, help="name of the env var holding the API key")
    health.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in seconds")
    health.add_argument("--json", action="store_true", help="print the full report as JSON")
    health.set_defaults(func=cmd_healthcheck)

    kube = sub.add_parser("k8s", help="Kubernetes/KServe manifests from a profile; offline validation")
    kube_sub = kube.add_subparsers(dest="action", required=True)
    render = kube_sub.add_parser("render", help="print the manifests (validated) for a profile")
    _add_profile_args(render)
    render.add_argument("--flavor", choices=["kserve", "deployment"], default="kserve")
    render.add_argument("--engine", default=None, help="which engines.<name> section (default: the profile's)")
    render.add_argument("--out", default=None, help="write to this file instead of stdout")
    render.set_defaults(func=cmd_k8s)
    check = kube_sub.add_parser("validate", help="validate YAML manifests offline (schemas + production rules)")
    check.add_argument("files", nargs="+")
    check.set_defaults(func=cmd_k8s)

    sub.add_parser("profiles", help="list the profiles under params/").set_defaults(func=cmd_profiles)

    setup_cmd = sub.add_parser("setup", help="create the profile's environments, one venv each")
    setup_cmd.add_argument("--profile", required=True)
    setup_cmd.add_argument("--dry-run", action="store_true", help="print the plan, install nothing")
    setup_cmd.set_defaults(func=cmd_setup)

    book = sub.add_parser("ledger", help="the source article's ledger: a run's page, or --check against the article")
    book.add_argument("--run", help="run folder to write article-ledger.html into")
    book.add_argument("--check", action="store_true", help="check the ledger covers the article; exit 1 if not")
    book.set_defaults(func=cmd_ledger)

    index = sub.add_parser("index", help="rebuild outputs/index.html (or a references folder's index.html)")
    index.add_argument("--outputs", default="outputs")
    index.add_argument("--references", default=None, help="write this folder's index.html instead, e.g. reference")
    index.set_defaults(func=cmd_index)
    return parser


def main(argv: list[str] | None = None) -> int:
    from playbook.run.runner import RunInterrupted

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RunInterrupted as exc:  # the run folder and index already say "interrupted"
        print(f"interrupted by {exc.signal}: the run's manifest records the day it was in", file=sys.stderr)
        return 128 + exc.signum
    except PlaybookError as exc:
        first, _, rest = str(exc).partition("\n")
        print(f"error: {first}", file=sys.stderr)
        if rest:
            print(rest, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
