"""Adding an engine is one adapter and one register() call: the launcher, the Kubernetes
renderer and the load generator's scraper pick it up without being touched."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from playbook.core.errors import PlaybookError
from playbook.core.profiles import EngineSpec, HardwareSpec, load_profile
from playbook.load import loadgen
from playbook.serving import k8s, launcher, serverinfo
from playbook.serving.engines import EngineAdapter, LaunchTarget, register, scraped_metrics, unregister

FAKE = Path(__file__).resolve().parents[1] / "fixtures" / "fake_engine.py"


class FakeAdapter(EngineAdapter):
    """A stand-in engine: tests/fixtures/fake_engine.py serves /health like a real one."""

    name = "fake"
    module = "fake_engine"
    releases = ("1.0",)
    distributions = ("fake-engine",)
    install_hint = "pip install fake-engine"
    api_key_variable = "FAKE_API_KEY"
    metrics: ClassVar[dict[str, str]] = {"fake:queue_depth": "waiting"}
    kv_log_pattern = re.compile(r"pid-child=(\d+)")  # any number the fake logs stands in for a KV capacity

    def server_args(self, spec: EngineSpec, target: LaunchTarget) -> list[str]:
        return [str(target.port), "healthy"]

    def argv(self, spec: EngineSpec, target: LaunchTarget, dummy: bool = False, keyed: bool = False) -> list[str]:
        return [str(FAKE), *self.server_args(spec, target)]

    def knob_env(self, spec: EngineSpec, hardware: HardwareSpec) -> dict[str, str]:
        return {"FAKE_ENGINE_THREADS": "2"}


@pytest.fixture
def fake_registered():
    register(FakeAdapter())
    yield
    unregister("fake")


def fake_profile(*extra: str):
    return load_profile("cpu-smollm2", ["engine=fake", f"engines.fake.python={sys.executable}",
                                        "engines.fake.image=example.org/fake:v1.0.3", *extra])  # fmt: skip


def test_a_registered_engine_launches_with_its_own_argv_env_and_key(fake_registered, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_TEST_KEY", "sk-test-123")
    profile = fake_profile("server.api_key_env=PLAYBOOK_TEST_KEY", "server.startup_timeout_s=30")
    argv = launcher.build_command(profile, "fake", "m", 8123)
    assert argv == [sys.executable, str(FAKE), "8123", "healthy"]  # the key stays out of argv
    env = launcher.engine_env("fake", profile)
    assert env["FAKE_ENGINE_THREADS"] == "2" and env["FAKE_API_KEY"] == "sk-test-123"
    with launcher.launch(profile, "m", tmp_path / "server.log") as server:
        assert server.engine == "fake" and not server.attached
        assert serverinfo.reported_kv_capacity_tokens(server) is not None  # read through the adapter's log rule
        assert server.endpoint.headers == {"Authorization": "Bearer sk-test-123"}


def test_kubernetes_and_the_scraper_ask_the_registry(fake_registered):
    command, args = k8s.engine_command(fake_profile(), "fake")
    assert command == [str(FAKE)] and args[-1] == "healthy"
    assert scraped_metrics()["fake:queue_depth"] == "waiting"
    assert "vllm:" not in inspect.getsource(loadgen)  # no engine's series are written into the load generator


def test_an_image_of_another_release_is_warned_before_rendering(fake_registered):
    profile = fake_profile("engines.fake.image=example.org/fake:v2.1.0")
    with pytest.warns(k8s.EngineReleaseWarning, match=r"runs fake 2\.1.*checked against 1\.0"):
        k8s.render(profile, "deployment", "fake")


def test_an_unknown_engine_is_one_line_naming_the_known_ones():
    profile = load_profile("cpu-smollm2", ["engine=nosuch", f"engines.nosuch.python={sys.executable}"])
    with pytest.raises(PlaybookError, match=r"unknown engine 'nosuch'; known: .*sglang.*vllm"):
        launcher.build_command(profile, "nosuch", "m", 8000)


def test_each_engine_speaks_its_own_constraint_and_grammar_dialect():
    """Day 3's request bodies and backend flags come from the engine's adapter: SGLang is never sent vLLM's
    ``structured_outputs`` extension, nor started with vLLM's ``--structured-outputs-config``."""
    from playbook.days.structured import constraint_body, make_tasks
    from playbook.serving.engines import get_engine

    tasks = {t.kind: t for t in make_tasks(1, 0)}
    for engine in ("vllm", "sglang"):
        schema = constraint_body(tasks["person"], engine)["response_format"]["json_schema"]
        assert schema["name"] == "person" and schema["schema"] == tasks["person"].schema
    assert "structured_outputs" in constraint_body(tasks["regex"], "vllm")
    assert constraint_body(tasks["regex"], "sglang") == {"regex": r"\d{4}-\d{2}-\d{2}"}
    assert get_engine("vllm").grammar_backend_args("guidance") == ["--structured-outputs-config",
                                                                   '{"backend": "guidance"}']  # fmt: skip
    assert get_engine("sglang").grammar_backend_args("guidance") == ["--grammar-backend", "llguidance"]
    assert get_engine("sglang").grammar_backend_args("lm-format-enforcer") is None
