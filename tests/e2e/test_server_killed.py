"""A vLLM server killed in the middle of a load run: completed records survive."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from playbook.core.profiles import load_profile
from playbook.load.datasets import build_requests
from playbook.load.loadgen import LoadConfig, read_records, run_load
from playbook.serving.endpoint import Endpoint
from playbook.serving.launcher import launch
from playbook.sizing.models import prepare_model

pytestmark = pytest.mark.slow


def test_kill_server_mid_run_keeps_completed_records(tmp_path):
    profile = load_profile("cpu-smollm2")
    prepared = prepare_model(profile.model)
    server = launch(profile, prepared.model_arg, tmp_path / "server.log")
    try:
        samples = build_requests("synthetic", 400, 0, prepared.local_dir, input_tokens=32, output_tokens=16)
        endpoint = Endpoint(server.base_url, profile.model.served_name)
        config = LoadConfig(concurrency=4)
        sink = tmp_path / "load" / "requests.jsonl"

        def kill_when_some_finished() -> None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if sink.exists() and len(sink.read_text().splitlines()) >= 10:
                    os.killpg(server.process.pid, signal.SIGKILL)
                    return
                time.sleep(0.2)

        threading.Thread(target=kill_when_some_finished, daemon=True).start()
        result = run_load(endpoint, config, samples, tmp_path / "load")
    finally:
        server.stop()
    records = read_records(sink)
    ok = [r for r in records if r.success]
    assert result.status == "partial" and result.error
    assert len(ok) >= 10, "every request completed before the kill is on disk"
    assert all(r.completion_tokens == 16 for r in ok)
    assert len(records) < 400, "the run stopped sending once the server was gone"
    assert {r.error_kind for r in records if not r.success} <= {"connection", "timeout", "empty_stream"}
