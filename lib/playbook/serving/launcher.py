"""Engine launchers: start a server from a profile, wait for health, always tear down.

A registry maps engine names to functions that turn a profile into an argv list
(never a shell string). :func:`launch` starts the process in its own process group,
captures its log to a file, waits for ``/health`` and returns a :class:`Server`, a
context manager whose ``stop()`` kills the whole group. Three more guards keep an
engine from outliving the caller: the engine runs under :mod:`playbook.serving.reaper`, a group
leader with ``PR_SET_PDEATHSIG`` that takes the whole group down if the kernel/notebook
process dies (even by SIGKILL); an ``atexit`` hook; and a pid file the runner sweeps
after each notebook.

Attach mode (``server.base_url`` set) launches nothing: it wraps an endpoint that already
runs (a Kubernetes service, a server started by hand) in the same interface, for any engine.
Everything engine-specific comes from the engine's adapter (:mod:`playbook.serving.engines`).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from playbook.core.errors import EngineNotInstalledError, PlaybookError, ServerStartError
from playbook.core.profiles import REPO_ROOT, EngineSpec, Profile
from playbook.serving.capabilities import KernelProbe, emulation_env, probe_kernels
from playbook.serving.endpoint import Endpoint, api_key
from playbook.serving.engines import LaunchTarget, get_engine
from playbook.serving.reaper import DETACHED_VARIABLE

LOG_TAIL_LINES = 40


FROM_PROFILE = "<the profile's server.api_key_env>"  # a key argument left out: resolved here from the profile


def engine_env(engine: str, profile: Profile, key: str | None = FROM_PROFILE) -> dict[str, str]:
    """Environment for the child: the caller's, plus the engine's knobs and its key where it reads one (``key``:
    the key :func:`launch` resolved once; left out, it is read from the profile's variable)."""
    adapter, spec = get_engine(engine), profile.engines[engine]
    env = dict(os.environ)
    env.update(adapter.knob_env(spec, profile.hardware))
    env.update(adapter.local_env(spec, profile.hardware))
    env.update(adapter.key_env(api_key(profile) if key == FROM_PROFILE else key))
    env.update(spec.env)
    return emulation_env(env)


def probe_engine(profile: Profile, engine: str | None = None) -> KernelProbe | None:
    """Which CPU kernels the engine has on this machine (None off the CPU, or for an engine with nothing to
    probe): asked in the engine's interpreter with the environment its server would get."""
    engine = engine or profile.engine
    adapter = get_engine(engine)
    code = adapter.probe_code()
    if profile.hardware.accelerator != "cpu" or code is None or engine not in profile.engines:
        return None
    return probe_kernels(
        engine, resolve_interpreter(engine, profile.engines[engine]), code, engine_env(engine, profile)
    )


def redact_argv(argv: list[str]) -> list[str]:
    """The arguments with the value after any ``--api-key`` masked, for logs and reports."""
    return ["***" if i and argv[i - 1] == "--api-key" else a for i, a in enumerate(argv)]


def free_port(host: str = "127.0.0.1", highest: int = 65535) -> int:
    """A port nothing listens on, at most ``highest`` (an engine that derives a second port from its own may need
    room above it): the OS's choice when it is low enough, else the first free one counting down from ``highest``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    if port <= highest:
        return port
    for candidate in range(highest, 1023, -1):
        with socket.socket() as sock:
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
            return candidate
    raise PlaybookError(f"no free port at or below {highest} on {host}")


def ensure_port_free(host: str, port: int) -> None:
    """Fail before launch, naming the port, rather than after a 2-minute model load."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PlaybookError(
                f"port {port} on {host} is already in use ({exc.strerror}); stop what holds it "
                "or set server.port: auto in the profile"
            ) from None


def resolve_interpreter(engine: str, spec: EngineSpec) -> str:
    path = Path(spec.python)
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.exists():
        raise EngineNotInstalledError(
            f"engine {engine!r}: interpreter {spec.python} does not exist; {get_engine(engine).install_hint}"
        )
    return str(path)


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if the parent dies (Linux only)."""
    os.setsid()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Server:
    """A running (or attached) OpenAI-compatible endpoint."""

    engine: str
    base_url: str
    model_name: str
    argv: list[str] = field(default_factory=list)
    log_path: Path | None = None
    process: subprocess.Popen | None = None
    pid_file: Path | None = None
    started_s: float | None = None
    api_key: str | None = field(default=None, repr=False)
    group_id: int | None = None  # the process group of a pooled server another kernel started
    pooled: bool = False  # owned by the run's pool (serving.pool): a day's stop() leaves it running
    reused_from: str | None = None  # the day folder that started this pooled server, when this day reused it

    @property
    def api_url(self) -> str:
        return self.base_url.rstrip("/") + "/v1"

    @property
    def attached(self) -> bool:
        """An endpoint the run did not start (and must not stop)."""
        return self.process is None and self.group_id is None

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.base_url, self.model_name, self.api_key)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log captured: attached endpoint)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def is_alive(self) -> bool:
        if self.process is None and self.group_id is not None:
            return group_alive(self.group_id)
        return self.process is None or self.process.poll() is None

    def stop(self, grace_s: float = 15.0, even_pooled: bool = False) -> None:
        """Terminate the whole process group; SIGKILL what ignores SIGTERM. A pooled server is left running (the
        pool stops it when it needs the room or the run ends) unless ``even_pooled``: Day 5 needs the card back."""
        if self.pooled and not even_pooled:
            return
        if self.process is None and self.group_id is not None:
            stop_group(self.group_id, grace_s)
            return
        if self.process is None:
            return
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace_s)
        _signal_group(self.process.pid, signal.SIGKILL)  # stragglers in the group
        self.process.wait()
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (one owned by another user counts)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(pgid: int, grace_s: float = 15.0) -> None:
    """Stop a group this process did not start (a pooled server another kernel launched): SIGTERM, which its
    reaper passes on to the engine's workers, then SIGKILL what is left after the grace."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(0.2)
    if group_alive(pgid):
        _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_healthy(server: Server, timeout_s: float, poll_s: float = 1.0) -> None:
    """Poll ``/health`` until 200; raise with the log tail on exit or timeout."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            if not server.is_alive():
                raise ServerStartError(
                    f"{server.engine} exited with code {server.process.returncode} before becoming healthy.\n"
                    f"argv: {' '.join(server.argv)}\n--- last log lines ---\n{server.log_tail()}"
                )
            try:
                if client.get(server.base_url.rstrip("/") + "/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(poll_s)
    raise ServerStartError(
        f"{server.engine} did not become healthy within {timeout_s:.0f} s (server.startup_timeout_s).\n"
        f"--- last log lines ---\n{server.log_tail()}"
    )


def build_command(profile: Profile, engine: str, model: str, port: int, key: str | None = FROM_PROFILE) -> list[str]:
    """The whole argv: the engine's interpreter, the adapter's arguments, the key only where it must be."""
    adapter, spec = get_engine(engine), profile.engines[engine]
    target = LaunchTarget(model, profile.model.served_name, profile.server.host, port)
    keyed = (api_key(profile) if key == FROM_PROFILE else key) is not None
    return [resolve_interpreter(engine, spec), *adapter.argv(spec, target, profile.model.source == "dummy", keyed)]


def launch(
    profile: Profile, model: str, log_path: Path, engine: str | None = None, pooled_pid_file: Path | None = None
) -> Server:
    """Start the engine and return once it is healthy (or raise, leaving nothing running).

    With ``pooled_pid_file`` (``serving.pool``) the server outlives this process: no parent-death signal, no
    ``atexit`` stop, its reaper watching the runner instead, and its pid file in the pool's folder."""
    engine = engine or profile.engine
    if profile.server.base_url and engine == profile.engine:
        return attach(profile)
    host = profile.server.host
    adapter = get_engine(engine)
    highest = adapter.highest_port
    port = free_port(host, highest) if profile.server.port == "auto" else profile.server.port
    if port > highest:
        raise PlaybookError(f"server.port={port}: {adapter.highest_port_why}; use a port <= {highest} "
                            "or server.port: auto")  # fmt: skip
    ensure_port_free(host, port)
    key = api_key(profile)  # resolved once: the argv, the child's environment and the client all use this one
    argv = build_command(profile, engine, model, port, key)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("wb")
    env = engine_env(engine, profile, key)
    if pooled_pid_file is not None:
        env[DETACHED_VARIABLE] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "playbook.serving.reaper", *argv],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        preexec_fn=os.setsid if pooled_pid_file is not None else _die_with_parent,
        cwd=log_path.parent,
    )
    log_file.close()
    pid_file = pooled_pid_file or log_path.with_suffix(".pid")
    pid_file.write_text(str(process.pid))
    shown = redact_argv(argv)  # what reports and errors may show
    server = Server(
        engine,
        f"http://{host}:{port}",
        profile.model.served_name,
        shown,
        log_path,
        process,
        pid_file,
        api_key=key,
    )
    if pooled_pid_file is None:
        atexit.register(server.stop)
    started = time.monotonic()
    try:
        wait_healthy(server, profile.server.startup_timeout_s)
    except BaseException:
        server.stop()
        raise
    server.pooled = pooled_pid_file is not None  # only once healthy: a failed start above is stopped for good
    server.started_s = time.monotonic() - started
    return server


def attach(profile: Profile, base_url: str | None = None) -> Server:
    """The endpoint at ``base_url`` (default ``server.base_url``), served by the profile's engine."""
    base_url = base_url or profile.server.base_url
    if not base_url:
        raise PlaybookError("attach mode needs server.base_url (e.g. http://127.0.0.1:8000)")
    return Server(profile.engine, base_url.rstrip("/"), profile.model.served_name, api_key=api_key(profile))


def sweep_pid_files(folder: Path) -> list[int]:
    """Kill process groups left by a notebook that died before its cleanup ran."""
    killed = []
    for pid_file in Path(folder).rglob("*.pid"):
        try:
            pid = int(pid_file.read_text().strip())
        except ValueError:
            continue
        try:
            os.killpg(pid, signal.SIGKILL)
            killed.append(pid)
        except (ProcessLookupError, PermissionError):
            pass
        pid_file.unlink(missing_ok=True)
    return killed
