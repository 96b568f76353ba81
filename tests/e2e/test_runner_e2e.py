"""The README's run path end to end: the runner launches vLLM itself, for real.

Each test starts its own server (1-2 min on the CPU). They run before the shared
server exists, so the process checks below see only what the runner started.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playbook.reports.legacy import leftovers
from playbook.reports.paths import machine_paths
from playbook.run.runner import run_playbook
from tests.support.processes import running

REPO = Path(__file__).resolve().parents[2]
FAKE_ENGINE = REPO / "tests" / "fixtures" / "fake_engine.py"
SERVER_MODULE = "vllm.entrypoints.openai.api_server"

pytestmark = pytest.mark.slow


def engine_processes() -> list[str]:
    out = subprocess.run(["pgrep", "-af", SERVER_MODULE], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


PLANTED_SECRET = "sk-planted-4f9c2e7a1b"  # must appear nowhere under outputs/


def test_run_day1_on_cpu_profile(tmp_path, monkeypatch):
    """The README's run path, with an API key required end to end (launcher, curl, SDK, load generator)."""
    monkeypatch.setenv("PLAYBOOK_TEST_API_KEY", PLANTED_SECRET)
    before = engine_processes()
    run_dir = run_playbook("cpu-smollm2", [1], ["server.api_key_env=PLAYBOOK_TEST_API_KEY"], outputs_root=tmp_path)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "ok", manifest["days"]
    assert run_dir.parent.name == manifest["date"] and run_dir.name == "run-0001"
    env = manifest["environment"]
    assert env["engine_version"] and env["package_versions"]["torch"].startswith("2.13.0")
    assert env["cpu_cores"] >= 1 and manifest["preflight"]["memory_plan"]["fits"]
    day = run_dir / "day01"
    metrics = json.loads((day / "metrics.json").read_text())
    assert metrics["status"] == "ok"
    assert metrics["steps"]["kv_capacity"]["reported_tokens"] > 0
    assert metrics["steps"]["server"]["startup_s"] > 0
    speed = json.loads((run_dir / "machine-speed.json").read_text())  # what the later days of the run are sized on
    assert speed["tpot_ms"] > 0 and speed["burst_output_tok_s"] > 0 and metrics["steps"]["machine_speed"] == speed
    page = (day / "report.html").read_text()
    assert "Paris" in page
    # what a team lead forwards: no machine path, no Python repr, no PASS line outside the Checks section
    assert machine_paths(page) == [] and leftovers(page) == []
    assert (day / "server.log").stat().st_size > 0
    assert "run-0001" in (tmp_path / "index.html").read_text()
    assert engine_processes() == before, "the runner left an engine running"
    assert metrics["steps"]["auth"]["unauthenticated_status"] == 401
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and PLANTED_SECRET.encode() in p.read_bytes()]
    assert leaks == [], f"the API key leaked into {leaks}"


def test_a_server_that_disagrees_with_the_reference_fails_day1_visibly(tmp_path):
    """A served model whose greedy tokens differ from transformers' fails Day 1, not quietly, and keeps what it
    measured. The server loads random weights (``--load-format dummy``), so the tokens differ on every CPU. (bf16,
    which changes SmolLM2's tokens on AVX512-BF16 machines and did on a real AVX2-only EPYC, gave float32's tokens
    under PLAYBOOK_CPU_ISA=avx2 on 2026-12-03: a bf16 test depended on the machine.)"""
    dummy = ["engines.vllm.extra_args=[--load-format, dummy]"]
    run_dir = run_playbook("cpu-smollm2", [1], dummy, outputs_root=tmp_path)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    day = manifest["days"][0]
    assert manifest["status"] == "failed" and day["status"] == "failed"
    assert "greedy agreement with transformers" in day["error"]
    metrics = json.loads((run_dir / "day01" / "metrics.json").read_text())
    assert metrics["steps"]["reference_check"]["passed"] is False
    assert metrics["steps"]["latency"]["successes"] == 5, "measurements after the failed check are kept"
    assert (run_dir / "day01" / "report.html").exists()
    assert engine_processes() == []


def test_bad_profile_fails_before_any_server(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "playbook", "run", "--outputs", str(tmp_path),
         "--set", "engines.vllm.max_model_len=16384"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert "max_model_len 16384 exceeds the model's max_position_embeddings 8192" in result.stderr
    assert not list(tmp_path.glob("*/run-*")), "no run folder for a refused profile"
    assert engine_processes() == []


def never_healthy_interpreter(folder: Path) -> Path:
    """An engine interpreter whose server starts (writes its log line, spawns a child as vLLM's engine core does)
    and never becomes healthy: tests/fixtures/fake_engine.py in ``never-healthy`` mode, given vLLM's argv so the
    process checks find it. Anything else (the version and kernel probes) goes to the real interpreter."""
    real = REPO / ".venv" / "bin" / "python"
    script = folder / "never-healthy-python"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$2" = "{SERVER_MODULE}" ]; then exec "{real}" "{FAKE_ENGINE}" 0 never-healthy "$@"; fi\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    return script


def test_cell_timeout_while_the_engine_starts_leaves_no_orphan(tmp_path):
    """papermill's per-cell timeout interrupts the launch cell mid-start: the day fails, nothing keeps running.
    The engine never becomes healthy, so the launch cell is the one that times out on any machine, however fast
    its start (a real vLLM start once beat a short timeout) or slow the cells before it (60 s each, at most)."""
    python = never_healthy_interpreter(tmp_path)
    run_dir = run_playbook("cpu-smollm2", [1], [f"engines.vllm.python={python}"], outputs_root=tmp_path,
                           timeout_s=60)  # fmt: skip
    manifest = json.loads((run_dir / "manifest.json").read_text())
    day = manifest["days"][0]
    assert manifest["status"] == "failed" and day["status"] == "failed"
    assert "Timeout" in day["error"] or "timed out" in day["error"].lower()
    log = (run_dir / "day01" / "server.log").read_text()
    assert "pid-child=" in log, "the interrupted cell was the engine's start"
    assert (run_dir / "day01" / "notebook.ipynb").exists() and (run_dir / "day01" / "report.html").exists()
    assert not list((run_dir / "day01").glob("*.pid"))
    child = int(log.split("pid-child=")[1].split()[0])  # the engine's own child: its whole group is stopped
    for _ in range(30):  # the group gets SIGTERM, then SIGKILL after its grace period
        if not engine_processes() and not running(child):
            break
        time.sleep(1)
    assert engine_processes() == [] and not running(child)
