"""The notebook harness: what every day's notebook calls first and last, so notebooks stay thin.

A notebook run by the runner gets ``output_dir`` from papermill; one opened by hand in
JupyterLab gets ``outputs/interactive/<date>/dayNN``: never a runner's run, and one folder for the days run by hand
on one date, which the selection notebook then reads.
The library below never imports this module: day modules take the :class:`DayContext`.
"""

from __future__ import annotations

from pathlib import Path

from playbook.core.profiles import load_profile
from playbook.days.context import DayContext, launch_variant
from playbook.reports.layout import interactive_day_dir
from playbook.reports.recorder import DayRecorder
from playbook.serving.launcher import Server, attach
from playbook.serving.pool import pooled_server

__all__ = ["DayContext", "launch_variant", "start_day", "start_server"]


def start_day(day: int, profile: str, overrides: list[str] | None, output_dir: str | None) -> DayContext:
    loaded = load_profile(profile, overrides)
    out = Path(output_dir) if output_dir is not None else interactive_day_dir(day)
    out.mkdir(parents=True, exist_ok=True)
    recorder = DayRecorder(out, day, loaded.name)
    print(f"profile {loaded.name}: {loaded.description}\noutputs: {out}")
    return DayContext(loaded, recorder, out, [])


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
