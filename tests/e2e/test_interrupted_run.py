"""SIGTERM in the middle of a day (``timeout``, a CI cancellation): the run ends ``interrupted`` with the day it
was in, the index shows it, nothing it started keeps running, and the exit code says which signal."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.support.mock import start_mock

pytestmark = pytest.mark.slow


def test_sigterm_mid_day_ends_the_run_interrupted(tmp_path):
    proc, url = start_mock("--tokens-per-s", "2")  # slow answers: Day 7 is mid-sweep when the signal comes
    sets = [f"server.base_url={url}", "model.served_name=mock-model", "days.day7.sweep_concurrency=[1]",
            "days.day7.min_requests_per_level=50", "days.day7.warmup_requests=0"]  # fmt: skip
    runner = subprocess.Popen([sys.executable, "-m", "playbook", "run", "--days", "7", "--outputs", str(tmp_path),
                               *[arg for s in sets for arg in ("--set", s)]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not list(tmp_path.glob("*/run-*/day07/c0001/requests.jsonl")):
            time.sleep(1)
        assert list(tmp_path.glob("*/run-*/day07/c0001/requests.jsonl")), "Day 7 never started sending"
        runner.send_signal(signal.SIGTERM)
        _, err = runner.communicate(timeout=120)
    finally:
        runner.kill()
        proc.kill()
        proc.wait()
    assert runner.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "interrupted by SIGTERM" in err
    manifest = json.loads(next(tmp_path.glob("*/run-*/manifest.json")).read_text())
    assert manifest["status"] == "interrupted" and manifest["finished_utc"]
    day = manifest["days"][-1]
    assert day["day"] == 7 and day["status"] == "interrupted" and "SIGTERM during Day 7" in day["error"]
    assert ">interrupted<" in (tmp_path / "index.html").read_text()


def test_a_runner_killed_outright_is_marked_interrupted_by_the_next_command(tmp_path):
    """SIGKILL (the OOM killer, a ``kill -9``) leaves no handler to write the manifest: it stays ``running``. The
    manifest names the runner's pid and host, so the next ``playbook index`` on this host sees the runner gone and
    marks the run ``interrupted`` with why; the requests Day 7 had finished stay on disk."""
    import os

    proc, url = start_mock("--tokens-per-s", "2")
    sets = [f"server.base_url={url}", "model.served_name=mock-model", "days.day7.sweep_concurrency=[1]",
            "days.day7.min_requests_per_level=50", "days.day7.warmup_requests=0"]  # fmt: skip
    runner = subprocess.Popen([sys.executable, "-m", "playbook", "run", "--days", "7", "--outputs", str(tmp_path),
                               *[arg for s in sets for arg in ("--set", s)]], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 240  # a cap for a stuck run; the first finished request ends the wait
        records = []
        while time.monotonic() < deadline and runner.poll() is None:
            records = list(tmp_path.glob("*/run-*/day07/c0001/requests.jsonl"))
            if records and records[0].read_text().strip():
                break
            time.sleep(0.5)
        assert records and records[0].read_text().strip(), "Day 7 never finished a request"
        os.killpg(runner.pid, signal.SIGKILL)  # the runner and its kernel, with no chance to write anything
        runner.wait(timeout=60)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
    manifest_path = next(tmp_path.glob("*/run-*/manifest.json"))
    assert json.loads(manifest_path.read_text())["status"] == "running"  # what SIGKILL leaves
    finished = records[0].read_text().splitlines()
    subprocess.run([sys.executable, "-m", "playbook", "index", "--outputs", str(tmp_path)], check=True, timeout=120)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["status"] == "interrupted" and f"pid {runner.pid}" in manifest["interrupted"]
    assert "runner gone" in (tmp_path / "index.html").read_text()
    assert records[0].read_text().splitlines()[: len(finished)] == finished and finished
