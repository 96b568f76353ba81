"""The run's server pool (``serving.pool``): a server started by one day's kernel outlives it and serves a later
day with the same argv, and nothing it started is left after the runner ends, is interrupted or is killed.

The engine is the mock (tests/fixtures/mock_engine.py) behind an interpreter that takes vLLM's argv, so the
launcher, the reaper and the pool are the real ones and a start takes a second on any machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from playbook.serving.launcher import sweep_pid_files
from tests.support.processes import running

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SERVER_MODULE = "vllm.entrypoints.openai.api_server"


def mock_interpreter(folder: Path, tokens_per_s: str = "200") -> Path:
    """An engine interpreter that serves the mock for vLLM's server module and is the real Python otherwise."""
    real = REPO / ".venv" / "bin" / "python"
    script = folder / "mock-engine-python"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$2" = "{SERVER_MODULE}" ]; then shift 2; '
        f'exec "{real}" "{REPO / "tests" / "fixtures" / "mock_engine.py"}" {tokens_per_s} "$@"; fi\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    return script


def children_in(log: Path) -> list[int]:
    return [int(part.split()[0]) for part in log.read_text().split("pid-child=")[1:]]


def wait_gone(pids: list[int], cap_s: float = 60) -> bool:
    """Until every pid is gone (the group gets SIGTERM, then SIGKILL after its grace); the cap is for a stuck stop."""
    deadline = time.monotonic() + cap_s
    while time.monotonic() < deadline and any(running(p) for p in pids):
        time.sleep(0.2)
    return not any(running(p) for p in pids)


KERNEL = """
import json, sys
from pathlib import Path
from playbook.core.profiles import load_profile
from playbook.serving.pool import pooled_server
profile = load_profile("cpu-smollm2", [f"engines.vllm.python={sys.argv[1]}", "model.served_name=mock-model"])
server = pooled_server(profile, "/models/none", Path(sys.argv[2]) / "server.log")
server.stop()  # what ctx.finish does: a pooled server stays up
print(json.dumps({"base_url": server.base_url, "reused_from": server.reused_from}))
"""


def kernel(python: Path, day_dir: Path, env: dict[str, str]) -> dict:
    """One day's kernel: asks the pool for the main server, then exits, as a notebook kernel does."""
    out = subprocess.run([sys.executable, "-c", KERNEL, str(python), str(day_dir)], env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_pooled_server_serves_two_days_and_goes_with_the_runner(tmp_path):
    python = mock_interpreter(tmp_path)
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"])  # stands in for the runner
    env = {**os.environ, "PLAYBOOK_SERVER_POOL": str(tmp_path / "pool"), "PLAYBOOK_REAPER_WATCH_PID": str(runner.pid)}
    try:
        first = kernel(python, tmp_path / "day01", env)
        assert first["reused_from"] is None
        assert httpx.get(first["base_url"] + "/health", timeout=5).status_code == 200, "gone with its kernel"
        second = kernel(python, tmp_path / "day07", env)
        assert second == {"base_url": first["base_url"], "reused_from": "day01"}
        assert not (tmp_path / "day07" / "server.log").exists(), "Day 7 started a server of its own"
        entry = json.loads(next((tmp_path / "pool").glob("*.json")).read_text())
        assert entry["days"] == ["day01", "day07"]
        pids = [entry["pid"], *children_in(tmp_path / "day01" / "server.log")]
        assert all(running(p) for p in pids)
        runner.kill()  # the runner dies without a word: the reaper watching it takes the group down
        runner.wait()
        assert wait_gone(pids), "the pooled server outlived its runner"
    finally:
        runner.kill()
        sweep_pid_files(tmp_path / "pool")  # what a failed assertion left running


def test_sigterm_in_the_second_day_of_a_shared_server_leaves_no_process(tmp_path):
    """Days 1 and 7 of a run share one server; SIGTERM while Day 7 sends its requests stops it, and the manifest
    says which days used it."""
    python = mock_interpreter(tmp_path, tokens_per_s="100")  # Day 7 has 50 requests of 100-odd tokens to send
    sets = [f"engines.vllm.python={python}", "model.served_name=mock-model", "days.day7.sweep_concurrency=[1]",
            "days.day7.min_requests_per_level=50", "days.day7.warmup_requests=0"]  # fmt: skip
    runner = subprocess.Popen([sys.executable, "-m", "playbook", "run", "--days", "1,7", "--outputs", str(tmp_path),
                               *[arg for s in sets for arg in ("--set", s)]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 600  # a cap for a stuck run; Day 7's first records end the wait
        while time.monotonic() < deadline and runner.poll() is None:
            if list(tmp_path.glob("*/run-*/day07/c0001/requests.jsonl")):
                break
            time.sleep(0.5)
        assert list(tmp_path.glob("*/run-*/day07/c0001/requests.jsonl")), "Day 7 never started sending"
        run_dir = next(tmp_path.glob("*/run-*"))
        entry = json.loads(next((run_dir / "pool").glob("*.json")).read_text())
        assert entry["days"] == ["day01", "day07"]
        pids = [entry["pid"], *children_in(run_dir / "day01" / "server.log")]
        runner.send_signal(signal.SIGTERM)
        _, err = runner.communicate(timeout=300)
    finally:
        runner.kill()
    assert runner.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert wait_gone(pids), "a process of the pooled server is left"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert [s["days"] for s in manifest["servers"]] == [["day01", "day07"]]
    assert not list(run_dir.rglob("*.pid"))
    assert "also serving day07" in (run_dir / "index.html").read_text()  # the run page says who shared it


def test_on_a_gpu_the_pool_stops_its_idle_server_before_another_start(tmp_path):
    """An idle pooled server holds its share of the card, so on a GPU profile the pool stops it before any other
    server of the run starts (Day 2's variants after Day 1); its entry is kept as stopped for the manifest."""
    from playbook.core.profiles import load_profile
    from playbook.serving.pool import ServerPool

    python = mock_interpreter(tmp_path)
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"])
    env = {**os.environ, "PLAYBOOK_SERVER_POOL": str(tmp_path / "pool"), "PLAYBOOK_REAPER_WATCH_PID": str(runner.pid)}
    try:
        kernel(python, tmp_path / "day01", env)
        pool = ServerPool(tmp_path / "pool")
        pids = [pool.entries()[0].pid, *children_in(tmp_path / "day01" / "server.log")]
        pool.make_room(load_profile("cpu-smollm2"))  # the CPU: memory is ample here, the server stays
        assert len(pool.entries()) == 1 and all(running(p) for p in pids)
        pool.make_room(load_profile("h100-smollm2"))
        assert pool.entries() == [] and wait_gone(pids)
        assert [e.days for e in pool.history()] == [["day01"]]
    finally:
        runner.kill()
        sweep_pid_files(tmp_path / "pool")  # what a failed assertion left running
