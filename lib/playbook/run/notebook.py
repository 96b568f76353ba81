"""The notebook harness: what every day's notebook calls first and last, so notebooks stay thin.

A notebook run by the runner gets ``output_dir`` from papermill; one opened by hand in
JupyterLab gets ``outputs/interactive/<date>/dayNN``: never a runner's run, and one folder for the days run by hand
on one date, which the selection notebook then reads.
The library below never imports this module: day modules take the :class:`DayContext`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from playbook.core.profiles import Profile, load_profile, parse_overrides
from playbook.days import worksize
from playbook.days.context import DayContext, launch_variant
from playbook.reports.layout import interactive_day_dir
from playbook.reports.recorder import DayRecorder
from playbook.serving.launcher import Server, attach
from playbook.serving.pool import pooled_server
from playbook.sizing.work import load_speed

__all__ = ["DayContext", "launch_variant", "start_day", "start_server"]


def start_day(day: int, profile: str, overrides: list[str] | None, output_dir: str | None) -> DayContext:
    # a report shows every cell and column: pandas cuts text at 50 characters and drops the middle columns of a
    # table wider than 20, which hid reasons, second results and Day 7's TPOT tail behind "..." (155 cells in the
    # committed references before 2026-12-05)
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_columns", None)
    loaded = load_profile(profile, overrides)
    out = Path(output_dir) if output_dir is not None else interactive_day_dir(day)
    out.mkdir(parents=True, exist_ok=True)
    recorder = DayRecorder(out, day, loaded.name)
    print(f"profile {loaded.name}: {loaded.description}\noutputs: {out}")
    loaded = sized_profile(loaded, profile, overrides, day, out.parent, recorder)
    return DayContext(loaded, recorder, out, [])


def sized_profile(
    loaded: Profile, profile: str, overrides: list[str] | None, day: int, run_dir: Path, recorder: DayRecorder
) -> Profile:
    """The profile with this day's counts sized to its time budget on the speed Day 1 measured in this run
    (``days.worksize``). A count the caller overrode is pinned: a test or a user who sets it gets it."""
    if worksize.time_budget_s(loaded, day) is None:
        return loaded
    speed = load_speed(run_dir)
    if speed is None:
        recorder.skip("work_sizing", f"no machine speed from Day 1 in {run_dir}: the profile's counts run as written")
        return loaded
    given = parse_overrides(overrides)
    prefix = f"days.day{day}."
    plan = worksize.size_day(loaded, day, speed, pinned={k.removeprefix(prefix) for k in given if k.startswith(prefix)})
    if plan is None:
        return loaded
    recorder.record("work_sizing", plan.to_dict())
    print(plan.summary())
    print(pd.DataFrame(plan.rows()).to_string(index=False))
    return load_profile(profile, {**given, **plan.overrides()}) if plan.scaled else loaded


def start_server(ctx: DayContext, model_arg: str, base_url: str | None = None) -> Server:
    """Launch the profile's engine (log into the day folder), or attach to ``base_url`` / ``server.base_url``.

    Inside a ``playbook run`` the server comes from the run's pool (``serving.pool``): a later day with the same
    argv and environment gets it back instead of starting its own."""
    if base_url or ctx.profile.attached:
        server = attach(ctx.profile, base_url)
        print(f"attached to {server.base_url} (no server launched by this notebook)")
        return server
    print(f"starting {ctx.profile.engine}, or reusing the run's; log: {ctx.output_dir / 'server.log'}")
    server = pooled_server(ctx.profile, model_arg, ctx.output_dir / "server.log")
    if server.reused_from is None:
        print(f"healthy after {server.started_s:.0f} s at {server.base_url}")
    return server
