"""A server pool for one ``playbook run``: days that start the same engine argv share one start.

Why: the week started the engine 13 times, and on a slow 2-core machine (72 s a vLLM start) the starts alone took
about 11 of its 43 minutes, although Days 1, 3, 5 and 7 (and Day 4's float32 original) start the same argv apart
from the port. So the runner gives its notebook kernels a pool folder (``PLAYBOOK_SERVER_POOL``): a day's main
server is started once, outlives the kernel that started it, and a later day whose key matches gets it back.

- **The key** is the engine, its argv without the port, and the environment the launcher adds for it (hashed: the
  environment may hold an API key). Any other difference, a flag or a knob, starts a server of its own.
- **Lifetime**: a pooled server is started without the parent-death signal (its kernel exits after each day),
  and its reaper watches the runner's pid instead (``PLAYBOOK_REAPER_WATCH_PID``): a runner killed outright takes
  it down within a second. The runner stops what is left when the run ends, and its interrupt handler sweeps the
  pool's pid files as it sweeps a day's.
- **Room**: on a GPU an idle pooled server holds its share of the card, so the pool stops it before any other
  server of the run starts. On the CPU an idle vLLM costs ~3 % of one core (0.033 CPU-s/s over 30 s,
  ``benchmarks/results/idle-server-cpu-2026-12-04.txt``), so it stays up while a variant runs, unless memory is
  short: it is stopped when the memory available is less than twice what it holds.
- A pooled server's ``stop()`` from a day leaves it running (the pool owns it): Day 4 stops each candidate it
  started, and one of them may be the shared server.
- A day run alone in JupyterLab has no pool: it starts and stops its own server, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

from pydantic import BaseModel

from playbook.core.fileio import write_json_atomic
from playbook.core.profiles import Profile
from playbook.serving.endpoint import api_key
from playbook.serving.launcher import Server, build_command, engine_env, group_alive, launch, stop_group
from playbook.serving.reaper import WATCH_VARIABLE

POOL_VARIABLE = "PLAYBOOK_SERVER_POOL"


class PoolEntry(BaseModel):
    """One pooled server, as ``<pool>/<key>.json``: what a later kernel needs to reuse it and the run page to
    say which days shared it."""

    key: str
    engine: str
    base_url: str
    model_name: str
    argv: list[str]
    log_path: str
    pid: int  # the reaper's pid, which leads the server's process group
    startup_s: float | None
    days: list[str]  # the day folders that used it, in order; the first started it


def server_key(profile: Profile, engine: str, model: str) -> str:
    """What makes two launches the same server: the engine, its argv without the port, and the environment the
    launcher adds (the caller's own environment differs from kernel to kernel and is left out)."""
    argv = build_command(profile, engine, model, 0)
    added = {k: v for k, v in engine_env(engine, profile).items() if os.environ.get(k) != v}
    blob = json.dumps([engine, argv, sorted(added.items())])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def day_of(log_path: Path) -> str:
    """The day folder a server's log is under (``day02`` for Day 2's ``day02/none/server.log``)."""
    return next((p.name for p in Path(log_path).parents if re.fullmatch(r"day\d+", p.name)), Path(log_path).parent.name)


def group_rss_bytes(pgid: int) -> int:
    out = subprocess.run(["ps", "-o", "rss=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return 1024 * sum(int(x) for x in out.split())


def available_memory_bytes() -> int | None:
    with contextlib.suppress(OSError, ValueError, StopIteration):
        line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemAvailable:"))
        return int(line.split()[1]) * 1024
    return None


class ServerPool:
    """The pool folder of one run: ``<key>.json`` and ``<key>.pid`` for each server it holds."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def entries(self) -> list[PoolEntry]:
        return [PoolEntry.model_validate_json(p.read_text()) for p in sorted(self.folder.glob("*.json"))]

    def _entry(self, key: str) -> PoolEntry | None:
        path = self.folder / f"{key}.json"
        return PoolEntry.model_validate_json(path.read_text()) if path.exists() else None

    def _save(self, entry: PoolEntry) -> None:
        write_json_atomic(self.folder / f"{entry.key}.json", entry.model_dump())

    def _stopped(self, entry: PoolEntry) -> None:
        """Forget a server that was stopped; its entry is kept as ``<key>.json.stopped.N`` for the manifest (on a
        GPU one key may be started and stopped more than once in a run)."""
        (self.folder / f"{entry.key}.pid").unlink(missing_ok=True)
        path = self.folder / f"{entry.key}.json"
        if path.exists():
            earlier = len(list(self.folder.glob(f"{entry.key}.json.stopped.*")))
            path.rename(self.folder / f"{entry.key}.json.stopped.{earlier + 1}")

    def stop(self, entry: PoolEntry) -> None:
        stop_group(entry.pid)
        self._stopped(entry)

    def reuse(self, profile: Profile, engine: str, model: str, user: str) -> Server | None:
        """The live server with this key, recorded as used by ``user`` (a day folder), or None."""
        entry = self._entry(server_key(profile, engine, model))
        if entry is None:
            return None
        if not group_alive(entry.pid):
            self._stopped(entry)
            return None
        if user not in entry.days:
            entry.days.append(user)
            self._save(entry)
        print(f"reusing the {engine} server {entry.days[0]} started ({entry.base_url}): same argv and environment")
        return self._server(entry, api_key(profile))

    def make_room(self, profile: Profile) -> None:
        """Stop idle servers that would stand in a new one's way: all of them on a GPU; on the CPU, only when
        memory is short (less than twice what they hold is available)."""
        for entry in self.entries():
            if profile.hardware.accelerator != "cpu":
                print(f"stopping the idle {entry.engine} server of {entry.days[0]}: one engine on the card at a time")
                self.stop(entry)
                continue
            held, free = group_rss_bytes(entry.pid), available_memory_bytes()
            if free is not None and free < 2 * held:
                print(f"stopping the idle {entry.engine} server of {entry.days[0]}: {free / 2**30:.1f} GiB "
                      f"available, it holds {held / 2**30:.1f} GiB")  # fmt: skip
                self.stop(entry)

    def start(self, profile: Profile, engine: str, model: str, log_path: Path) -> Server:
        """A new pooled server (after making room), left running for later days."""
        self.make_room(profile)
        key = server_key(profile, engine, model)
        server = launch(profile, model, log_path, engine, pooled_pid_file=self.folder / f"{key}.pid")
        entry = PoolEntry(key=key, engine=engine, base_url=server.base_url, model_name=server.model_name,
                          argv=server.argv, log_path=str(log_path), pid=server.process.pid,
                          startup_s=server.started_s, days=[day_of(log_path)])  # fmt: skip
        self._save(entry)
        return server

    def _server(self, entry: PoolEntry, key: str | None) -> Server:
        return Server(entry.engine, entry.base_url, entry.model_name, entry.argv, Path(entry.log_path),
                      started_s=entry.startup_s, api_key=key, group_id=entry.pid, pooled=True,
                      reused_from=entry.days[0])  # fmt: skip

    def drain(self) -> list[str]:
        """Stop every server the pool still holds (the run's end); returns the keys stopped."""
        stopped = []
        for entry in self.entries():
            self.stop(entry)
            stopped.append(entry.key)
        return stopped

    def history(self) -> list[PoolEntry]:
        """Every server the pool held during the run, running or stopped, for the manifest and the run page."""
        found = [PoolEntry.model_validate_json(p.read_text()) for p in sorted(self.folder.glob("*.json*"))]
        return sorted(found, key=lambda e: e.days[0])


def active_pool() -> ServerPool | None:
    """The runner's pool, when this process runs inside a ``playbook run`` (None in a notebook opened by hand)."""
    folder = os.environ.get(POOL_VARIABLE)
    return ServerPool(Path(folder)) if folder else None


def pooled_server(profile: Profile, model: str, log_path: Path, engine: str | None = None) -> Server:
    """The day's main server: the pool's when one runs with this key, else a new one left in the pool (outside a
    run: a plain launch, stopped by the day)."""
    engine = engine or profile.engine
    pool = active_pool()
    if pool is None or (profile.server.base_url and engine == profile.engine):
        return launch(profile, model, log_path, engine)
    return pool.reuse(profile, engine, model, day_of(log_path)) or pool.start(profile, engine, model, log_path)


def variant_server(profile: Profile, model: str, log_path: Path, engine: str | None = None) -> Server:
    """A variant a day starts and stops itself: the pool's server when its key matches one (Day 4's float32
    original is the main server), else a plain launch after the pool made room for it."""
    engine = engine or profile.engine
    pool = active_pool()
    if pool is None:
        return launch(profile, model, log_path, engine)
    found = pool.reuse(profile, engine, model, day_of(log_path))
    if found is not None:
        return found
    pool.make_room(profile)
    return launch(profile, model, log_path, engine)


__all__ = ["POOL_VARIABLE", "WATCH_VARIABLE", "PoolEntry", "ServerPool", "active_pool",
           "pooled_server", "server_key", "variant_server"]  # fmt: skip
