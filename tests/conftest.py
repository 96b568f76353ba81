"""Shared fixtures. The live server is real vLLM on the CPU, started once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from playbook.core.profiles import load_profile
from playbook.serving.launcher import launch
from playbook.sizing.models import prepare_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def mock_server():
    """``playbook.serving.mockserver`` on a free port: (process, base_url)."""
    from tests.support.mock import start_mock

    proc, url = start_mock()
    yield proc, url
    proc.kill()
    proc.wait()


@pytest.fixture(scope="session")
def cpu_profile():
    return load_profile("cpu-smollm2")


@pytest.fixture(scope="session")
def prepared_model(cpu_profile):
    """The SmolLM2 folder, converted once and cached by content hash."""
    return prepare_model(cpu_profile.model)


@pytest.fixture(scope="session")
def live_server(cpu_profile, prepared_model, tmp_path_factory):
    """One float32 vLLM CPU server shared by every test that only needs an endpoint."""
    log = tmp_path_factory.mktemp("live-server") / "server.log"
    server = launch(cpu_profile, prepared_model.model_arg, log)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def machine_speed(live_server, cpu_profile, tmp_path_factory):
    """This machine's speed, measured once on the live server the way Day 1 measures it. A day test that passes it
    to ``run_day_notebook`` runs sized to its profile's time budget, as in a week run (``days.worksize``): on a slow
    machine it sends fewer requests, never fewer than each count's minimum."""
    from playbook.days import day1

    out = tmp_path_factory.mktemp("speed") / "day01"
    model, settings = cpu_profile.model.served_name, cpu_profile.days.day1
    records, summary = day1.measure_latency(live_server, model, day1.LATENCY_PROMPT, settings.latency_requests,
                                            settings.latency_max_tokens, out / "latency")  # fmt: skip
    return day1.measure_machine_speed(live_server, model, summary, records, out / "burst")


@pytest.fixture(scope="session")
def week_run(tmp_path_factory):
    """A run folder every notebook test copies its metrics.json into, for the selection report to read."""
    run = tmp_path_factory.mktemp("outputs") / "2026-01-01" / "run-0001"
    run.mkdir(parents=True)
    return run


@pytest.fixture
def run_day_notebook(tmp_path, week_run):
    """Execute a day's notebook with papermill (real kernel, real server) and return its metrics.json,
    also copied into ``week_run/<folder>`` for the selection report at the end of the session. The file
    must be its day's typed result (``playbook.reports.results``): a step the notebook records that the
    schema does not declare, or of another shape, fails the day's test."""
    import json
    import shutil

    import papermill

    from playbook.reports.results import load_day_result
    from playbook.run.runner import NOTEBOOKS_DIR

    def run(notebook: str, folder: str, speed=None, **parameters) -> dict:
        out = tmp_path / folder
        if speed is not None:  # where Day 1 of a run leaves it: the day is sized to its budget on this machine
            speed.save(tmp_path)
        papermill.execute_notebook(
            str(NOTEBOOKS_DIR / notebook), str(tmp_path / f"{folder}.ipynb"),
            parameters={"profile": "cpu-smollm2", "output_dir": str(out), **parameters},
            cwd=str(NOTEBOOKS_DIR), progress_bar=False,
        )  # fmt: skip
        (week_run / folder).mkdir(exist_ok=True)
        shutil.copy(out / "metrics.json", week_run / folder / "metrics.json")
        load_day_result(out / "metrics.json")  # raises ResultSchemaError, naming the step, if off-schema
        return json.loads((out / "metrics.json").read_text())

    return run


def pytest_collection_modifyitems(config, items):
    """Order: fast unit tests, then end-to-end runs that start their own servers, then
    the tests sharing one server (created on first use, so it never overlaps the e2e runs)."""
    rank = {"unit": 0, "e2e": 1, "integration": 2}
    items.sort(key=lambda it: rank.get(Path(str(it.fspath)).parent.name, 3))


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
