"""What a day works with: its profile, its folder, its recorder, its checks.

The notebook harness (:mod:`playbook.run.notebook`) makes a :class:`DayContext`; day
modules that launch servers of their own (Day 4's candidates, Day 5's GPU sharing) take
it from there, so the library never reaches back into the harness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playbook.core.errors import PlaybookError, ValidationFailed
from playbook.core.profiles import Profile
from playbook.reports.recorder import DayRecorder
from playbook.reports.results import ServerRecord
from playbook.serving.endpoint import api_key
from playbook.serving.launcher import Server, launch
from playbook.serving.pool import variant_server
from playbook.serving.serverinfo import engine_version


@dataclass
class DayContext:
    profile: Profile
    recorder: DayRecorder
    output_dir: Path
    failures: list[str]
    partials: list[str] = field(default_factory=list)

    @property
    def api_key(self) -> str | None:
        return api_key(self.profile)

    def check(self, ok: bool, message: str) -> None:
        """Record a check for the report's Checks section; a failed one also fails the day at the end, after
        teardown, and is printed where it happened. A passing check prints nothing: test-style ``PASS`` lines
        between the paragraphs are not what a reader came for (the section lists them all)."""
        self.recorder.check(ok, message)
        if not ok:
            print("FAIL: " + message)
            self.failures.append(message)

    def record_server(self, server: Server) -> ServerRecord:
        """The ``server`` step: the engine, the argv it started with, its start time and the release it reports
        (what a reader needs to rerun it, and what a baseline must match). A server reused from the run's pool
        keeps the start time of the day that started it, and ``reused_from`` names that day."""
        record = ServerRecord(engine=server.engine, base_url=server.base_url, argv=server.argv or [],
                              startup_s=server.started_s, version=engine_version(server),
                              reused_from=server.reused_from)  # fmt: skip
        self.recorder.record("server", record)
        return record

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


def launch_variant(
    ctx: DayContext, model_arg: str, label: str, engine: str | None = None, share_pool: bool = True, **updates
) -> Server:
    """Start another server of this profile with some engine settings changed (its own log), or reuse the run's
    pooled server when the change leaves the argv as it is. ``share_pool=False``: a plain start that leaves the
    pool alone, for a day that places servers on the card itself (Day 5's GPU sharing).

    The variant is validated as a whole profile, so a change cannot skip the profile's checks."""
    profile = variant_profile(ctx.profile, engine or ctx.profile.engine, **updates)
    log = ctx.output_dir / f"server-{label}.log"
    print(f"starting {profile.engine} ({label}); log: {log}")
    server = variant_server(profile, model_arg, log) if share_pool else launch(profile, model_arg, log)
    if server.reused_from is None:
        print(f"healthy after {server.started_s:.0f} s at {server.base_url}")
    return server


def variant_profile(profile: Profile, engine: str, **updates: object) -> Profile:
    """This profile launching ``engine`` with ``updates`` applied to its settings (never attached)."""
    if engine not in profile.engines:
        raise PlaybookError(f"engines.{engine} is not in profile {profile.name}: add it to launch a variant of it")
    data = profile.model_dump()
    data["engines"][engine] = {**data["engines"][engine], **updates}
    data["engine"] = engine
    data["server"]["base_url"] = None
    return Profile.model_validate(data)
