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


def test_each_engine_scores_prompt_tokens_in_its_own_dialect():
    """Day 4's perplexity: vLLM's ``prompt_logprobs`` extension on completions; SGLang's native ``/generate`` with
    ``return_logprob`` from position 0, whose reply (``meta_info.input_token_logprobs``, SGLang 0.5's
    ``[logprob, token_id, text]`` per token, the first null) is checked against the ids sent."""
    import json

    from playbook.core.errors import EngineFeatureMissing
    from playbook.load.greedy import prompt_token_logprobs
    from playbook.serving.endpoint import Endpoint
    from playbook.serving.engines import get_engine
    from tests.support.http import QuietHandler, serving

    ids = [5, 7, 11]
    path, body = get_engine("vllm").prompt_scoring_request("m", ids)
    assert path == "/v1/completions" and body["prompt"] == ids and body["prompt_logprobs"] == 0
    vllm_reply = {"choices": [{"prompt_logprobs": [None, {"7": {"logprob": -1.5}, "3": {"logprob": -0.2}},
                                                   {"11": {"logprob": -0.5}}]}]}  # fmt: skip
    assert get_engine("vllm").prompt_scores(vllm_reply, ids) == [-1.5, -0.5]
    path, body = get_engine("sglang").prompt_scoring_request("m", ids)
    assert path == "/generate" and body["input_ids"] == ids
    assert body["return_logprob"] is True and body["logprob_start_len"] == 0
    sglang_reply = {"meta_info": {"input_token_logprobs": [[None, 5, None], [-2.0, 7, None], [-0.25, 11, None]]}}
    assert get_engine("sglang").prompt_scores(sglang_reply, ids) == [-2.0, -0.25]
    with pytest.raises(ValueError, match="other tokens"):
        get_engine("sglang").prompt_scores(sglang_reply, [5, 7, 12])
    assert get_engine("sglang").prompt_scores({"meta_info": {}}, ids) is None
    with pytest.raises(EngineFeatureMissing):
        get_engine("trtllm").prompt_scoring_request("m", ids)

    replies = {"/generate": sglang_reply, "/v1/completions": {"choices": [{"text": "x"}]}}  # vLLM without the extension

    class Server(QuietHandler):
        def do_POST(self):
            json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.reply(200, json.dumps(replies[self.path]).encode())

    with serving(Server) as url:
        endpoint = Endpoint(url, "m")
        assert prompt_token_logprobs(endpoint, "sglang", ids) == [-2.0, -0.25]
        with pytest.raises(EngineFeatureMissing, match="no prompt log-probabilities"):
            prompt_token_logprobs(endpoint, "vllm", ids)
