"""``playbook``: run the week, prepare models, check memory, list profiles.

Every command validates its input first and exits with code 2 and a one-line reason
(plus detail) on a :class:`PlaybookError`, before anything expensive starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from playbook.errors import PlaybookError
from playbook.profiles import list_profiles, load_profile


def _add_profile_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu-smollm2", help="profile name under params/ or a YAML path")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a profile value, e.g. --set engines.vllm.dtype=bfloat16 (repeatable)",
    )  # fmt: skip


def cmd_run(args: argparse.Namespace) -> int:
    from playbook.runner import parse_days, run_playbook

    days = parse_days(args.days)
    run_dir = run_playbook(args.profile, days, args.overrides, Path(args.outputs), args.cell_timeout)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    print(f"\nrun {manifest['run_id']} ({manifest['status']}): {run_dir}")
    for day in manifest["days"]:
        print(f"  Day {day['day']}: {day['status']}  {run_dir / day['folder'] / 'report.html'}")
        if day["error"]:
            print(f"    {day['error'].splitlines()[-1][:300]}")
    print(f"index: {Path(args.outputs) / 'index.html'}")
    return 0 if manifest["status"] == "ok" else 1


def cmd_prepare_model(args: argparse.Namespace) -> int:
    from playbook.models import prepare_model

    profile = load_profile(args.profile, args.overrides)
    print(json.dumps(prepare_model(profile.model).to_dict(), indent=2))
    return 0


def cmd_preflight(args: argparse.Namespace) -> int:
    from playbook.runner import preflight

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
    from playbook.reports import write_index

    print(write_index(Path(args.outputs)))
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

    prep = sub.add_parser("prepare-model", help="prepare (and cache) the profile's model folder")
    _add_profile_args(prep)
    prep.set_defaults(func=cmd_prepare_model)

    pre = sub.add_parser("preflight", help="memory pre-flight: does the model and its KV cache fit?")
    _add_profile_args(pre)
    pre.set_defaults(func=cmd_preflight)

    sub.add_parser("profiles", help="list the profiles under params/").set_defaults(func=cmd_profiles)

    index = sub.add_parser("index", help="rebuild outputs/index.html")
    index.add_argument("--outputs", default="outputs")
    index.set_defaults(func=cmd_index)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PlaybookError as exc:
        first, _, rest = str(exc).partition("\n")
        print(f"error: {first}", file=sys.stderr)
        if rest:
            print(rest, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
