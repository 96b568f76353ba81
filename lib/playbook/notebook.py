"""Helpers every day's notebook calls first and last, so notebooks stay thin.

A notebook run by the runner gets ``output_dir`` from papermill; one opened by hand in
JupyterLab gets ``outputs/interactive/<timestamp>/dayNN`` so it never writes over a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from playbook import engines
from playbook.engines import Server, attach, launch
from playbook.errors import ValidationFailed
from playbook.profiles import REPO_ROOT, Profile, load_profile
from playbook.reports import DayRecorder


@dataclass
class DayContext:
    profile: Profile
    recorder: DayRecorder
    output_dir: Path
    failures: list[str]
    partials: list[str] = field(default_factory=list)

    @property
    def api_key(self) -> str | None:
        return engines.api_key(self.profile)

    def check(self, ok: bool, message: str) -> None:
        """Remember a failed check; the day fails at the end, after teardown. Returns nothing, so a
        check as a cell's last line prints only its PASS/FAIL line."""
        print(("PASS: " if ok else "FAIL: ") + message)
        if not ok:
            self.failures.append(message)

    def partial(self, message: str) -> None:
        """A measurement cut short (the server died mid-run): what was measured is kept and the day
        ends ``partial`` rather than failed, so the runner goes on to the next day."""
        print("PARTIAL: " + message)
        self.partials.append(message)

    def finish(self, server: Server | None = None) -> None:
        """Stop the server, write the final status, and fail the notebook if a check failed."""
        if server is not None:
            server.stop()
        self.recorder.data["failures"] = self.failures
        self.recorder.data["partial"] = self.partials
        self.recorder.finish("failed" if self.failures else "partial" if self.partials else "ok")
        if self.failures:
            raise ValidationFailed("; ".join(self.failures))
        verdict = "ended partial" if self.partials else "passed"
        print(f"Day {self.recorder.data['day']} {verdict}; metrics in {self.recorder.path}")


def start_day(day: int, profile: str, overrides: list[str] | None, output_dir: str | None) -> DayContext:
    loaded = load_profile(profile, overrides)
    if output_dir is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        output_dir = REPO_ROOT / "outputs" / "interactive" / stamp / f"day{day:02d}"
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    recorder = DayRecorder(out, day, loaded.name)
    print(f"profile {loaded.name}: {loaded.description}\noutputs: {out}")
    return DayContext(loaded, recorder, out, [])


def start_server(ctx: DayContext, model_arg: str, base_url: str | None = None) -> Server:
    """Launch the profile's engine (log into the day folder), or attach to ``base_url``."""
    base_url = base_url or (ctx.profile.server.base_url if ctx.profile.engine == "attach" else None)
    if base_url:
        server = attach(base_url, ctx.profile.model.served_name)
        print(f"attached to {server.base_url} (no server launched by this notebook)")
        return server
    print(f"starting {ctx.profile.engine}; log: {ctx.output_dir / 'server.log'} (this takes a minute or more)")
    server = launch(ctx.profile, model_arg, ctx.output_dir / "server.log")
    print(f"healthy after {server.started_s:.0f} s at {server.base_url}")
    return server


def launch_variant(ctx: DayContext, model_arg: str, label: str, engine: str | None = None, **updates) -> Server:
    """Start another server of this profile with some engine settings changed (its own log)."""
    engine = engine or (ctx.profile.engine if ctx.profile.engine != "attach" else "vllm")
    spec = ctx.profile.engines[engine].model_copy(update=updates)
    profile = ctx.profile.model_copy(update={"engines": {**ctx.profile.engines, engine: spec}, "engine": engine})
    log = ctx.output_dir / f"server-{label}.log"
    print(f"starting {engine} ({label}); log: {log}")
    server = launch(profile, model_arg, log, engine)
    print(f"healthy after {server.started_s:.0f} s at {server.base_url}")
    return server
