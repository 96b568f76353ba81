"""Launcher: argv building, health wait, and teardown of real process trees."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from playbook.core.errors import EngineNotInstalledError, PlaybookError, ServerStartError
from playbook.core.profiles import load_profile
from playbook.serving import launcher as engines
from playbook.serving.engines import LaunchTarget, get_engine

FAKE = Path(__file__).resolve().parents[1] / "fixtures" / "fake_engine.py"


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pgid: int, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def fake_engine(monkeypatch):
    """Make the launcher start fake_engine.py in MODE instead of vLLM (everything else real)."""

    def use(mode: str):
        argv = lambda p, e, m, port, key=None: [sys.executable, str(FAKE), str(port), mode]  # noqa: E731
        monkeypatch.setattr(engines, "build_command", argv)

    return use


def test_vllm_argv_is_a_list_from_the_profile():
    spec = load_profile("h100-qwen2.5-7b").engines["vllm"]
    argv = get_engine("vllm").argv(spec, LaunchTarget("Qwen/Qwen2.5-7B-Instruct", "qwen", "127.0.0.1", 8000))
    assert argv[:2] == ["-m", "vllm.entrypoints.openai.api_server"]
    pairs = dict(zip(argv[2::2], argv[3::2], strict=False))
    assert pairs["--dtype"] == "bfloat16" and pairs["--gpu-memory-utilization"] == "0.85"
    assert pairs["--max-model-len"] == "8192"
    assert "--enforce-eager" not in argv
    eager = get_engine("vllm").argv(spec.model_copy(update={"enforce_eager": True}), LaunchTarget("m", "m", "h", 1))
    assert eager.count("--enforce-eager") == 1


def test_sglang_argv_uses_real_flags():
    spec = load_profile("h100-qwen2.5-7b").engines["sglang"]
    argv = get_engine("sglang").argv(spec, LaunchTarget("Qwen/Qwen2.5-7B-Instruct", "qwen", "127.0.0.1", 30000))
    assert "--mem-fraction-static" in argv and "--context-length" in argv
    assert "--mem_fraction_static" not in argv and "--" not in argv
    assert "--enable-metrics" in argv  # no /metrics without it: no queue, cache or speculation series
    assert not any(a.startswith("--cuda-graph") for a in argv)
    eager = get_engine("sglang").argv(spec.model_copy(update={"enforce_eager": True}), LaunchTarget("m", "m", "h", 1))
    pairs = dict(zip(eager[::2], eager[1::2], strict=False)) | dict(zip(eager[1::2], eager[2::2], strict=False))
    assert pairs["--cuda-graph-backend-decode"] == pairs["--cuda-graph-backend-prefill"] == "disabled"


def test_missing_interpreter_names_the_fix():
    profile = load_profile("h100-qwen2.5-7b", ["engines.sglang.python=/nonexistent/python"])
    with pytest.raises(EngineNotInstalledError, match=r"does not exist.*GPU host"):
        engines.build_command(profile, "sglang", "m", 30000)


def test_port_in_use_is_named_before_launch():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PlaybookError, match=f"port {port} on 127.0.0.1 is already in use"):
            engines.ensure_port_free("127.0.0.1", port)


def test_teardown_after_exception_leaves_no_process(fake_engine, tmp_path):
    fake_engine("healthy")
    profile = load_profile("cpu-smollm2", ["server.startup_timeout_s=30"])
    with pytest.raises(RuntimeError, match="boom"), engines.launch(profile, "m", tmp_path / "server.log") as server:
        pgid = server.process.pid
        assert group_alive(pgid)
        raise RuntimeError("boom")
    assert wait_gone(pgid)
    assert not (tmp_path / "server.pid").exists()


def test_crash_at_start_reports_log_tail(fake_engine, tmp_path):
    fake_engine("crash")
    profile = load_profile("cpu-smollm2", ["server.startup_timeout_s=30"])
    with pytest.raises(ServerStartError, match=r"exited with code 3(.|\n)*simulated engine failure"):
        engines.launch(profile, "m", tmp_path / "server.log")


def test_never_healthy_times_out_and_kills_the_group(fake_engine, tmp_path):
    """The start timeout fires and takes the engine's whole group with it. 20 s: the stand-in must have started
    its child before the timeout for the child's death to be checked (3 s once did not suffice on a loaded 2-core
    machine: the log had no child yet)."""
    fake_engine("never-healthy")
    profile = load_profile("cpu-smollm2", ["server.startup_timeout_s=20"])
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="did not become healthy within 20 s"):
        engines.launch(profile, "m", tmp_path / "server.log")
    assert time.monotonic() - started < 120
    pgid = int(next(line for line in (tmp_path / "server.log").read_text().splitlines() if "pid-child" in line)
               .split("=")[1])  # fmt: skip
    assert wait_gone(pgid) or not group_alive(pgid)


def test_engine_dies_when_its_parent_is_killed(tmp_path):
    """A notebook kernel killed with SIGKILL runs no cleanup; PR_SET_PDEATHSIG still stops the engine."""
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from playbook.serving import launcher as engines
        from playbook.core.profiles import load_profile
        engines.build_command = lambda p, e, m, port, key=None: [sys.executable, {str(FAKE)!r}, str(port), "healthy"]
        server = engines.launch(load_profile("cpu-smollm2"), "m", Path({str(tmp_path)!r}) / "server.log")
        print(server.process.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    engine_pid = int(parent.stdout.readline())
    assert group_alive(engine_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert wait_gone(engine_pid), "engine process group outlived its killed parent"


def test_sweep_kills_leftover_groups(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    (tmp_path / "server.pid").write_text(str(proc.pid))
    assert engines.sweep_pid_files(tmp_path) == [proc.pid]
    proc.wait(10)
    assert not (tmp_path / "server.pid").exists()


def test_dummy_models_load_random_weights_and_parallelism_reaches_argv():
    profile = load_profile("h100x2-llama-70b-dummy", ["engines.vllm.python=" + sys.executable])
    argv = engines.build_command(profile, "vllm", "/models/llama-70b", 8000)
    assert argv[argv.index("--load-format") + 1] == "dummy"
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2"


def test_an_engine_that_takes_its_key_only_as_an_argument_gets_it_inside_its_process(tmp_path, monkeypatch):
    """SGLang reads its key only from --api-key: the launcher's argv carries a shim instead, which appends the key
    from the environment inside the engine's process, so ps, logs and reports never see it."""
    monkeypatch.setenv("PLAYBOOK_TEST_KEY", "sk-never-in-argv-1234")
    profile = load_profile(
        "h100-qwen2.5-7b", [f"engines.sglang.python={sys.executable}", "server.api_key_env=PLAYBOOK_TEST_KEY"]
    )
    argv = engines.build_command(profile, "sglang", "m", 30000)
    assert "sk-never-in-argv-1234" not in " ".join(argv) and argv[1] == "-c"
    env = engines.engine_env("sglang", profile)
    assert env["PLAYBOOK_ENGINE_API_KEY"] == "sk-never-in-argv-1234"
    # the shim, run for real against a stand-in module that prints what the engine would parse
    (tmp_path / "sglang_stub.py").write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    shim = argv[2].replace("'sglang.launch_server'", "'sglang_stub'")
    done = subprocess.run([sys.executable, "-c", shim, "--port", "1"], capture_output=True, text=True, cwd=tmp_path,
                          env={**env, "PYTHONPATH": str(tmp_path)}, check=True)  # fmt: skip
    assert done.stdout.strip() == '["--port", "1", "--api-key", "sk-never-in-argv-1234"]'
    vllm = load_profile("cpu-smollm2", ["server.api_key_env=PLAYBOOK_TEST_KEY"])
    assert engines.engine_env("vllm", vllm)["VLLM_API_KEY"] == "sk-never-in-argv-1234"  # vLLM reads its own variable


def test_an_automatic_port_leaves_sglang_room_for_its_grpc_port():
    """SGLang 0.5 derives a gRPC port as --port + 10000 and dies above 65535 (seen on an H200, port 59393)."""
    from playbook.serving.launcher import free_port

    assert get_engine("sglang").highest_port == 55535 and get_engine("vllm").highest_port == 65535
    assert all(free_port("127.0.0.1", 20000) <= 20000 for _ in range(5))


def test_reserved_cores_auto_gives_a_small_machine_both_cores_and_larger_ones_the_engines_default():
    from playbook.serving.capabilities import reserved_cores_here

    assert [reserved_cores_here(n) for n in (1, 2, 3, 64)] == [0, 0, None, None]


def test_reserved_cores_reach_the_local_server_and_only_a_fixed_number_reaches_a_manifest(monkeypatch):
    monkeypatch.setattr("playbook.serving.engines.vllm.reserved_cores_here", lambda: 0)
    auto = load_profile("cpu-smollm2", ["engines.vllm.cpu_reserved_cores=auto"])
    adapter = get_engine("vllm")
    assert engines.engine_env("vllm", auto)["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert "VLLM_CPU_NUM_OF_RESERVED_CPU" not in adapter.knob_env(auto.engine_spec, auto.hardware)  # k8s reads this
    fixed = load_profile("cpu-smollm2", ["engines.vllm.cpu_reserved_cores=1"])
    assert adapter.knob_env(fixed.engine_spec, fixed.hardware)["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "1"
    gpu = load_profile("h100-smollm2", ["engines.vllm.cpu_reserved_cores=0"])
    assert "VLLM_CPU_NUM_OF_RESERVED_CPU" not in engines.engine_env("vllm", gpu)


@pytest.mark.parametrize("value", ["-1", "many"])
def test_a_bad_reserved_core_count_names_the_key(value):
    with pytest.raises(PlaybookError, match="cpu_reserved_cores"):
        load_profile("cpu-smollm2", [f"engines.vllm.cpu_reserved_cores={value}"])


def test_sglang_speculation_flags_make_the_same_chain_as_vllms():
    """NGRAM: SGLang 0.5.14 overwrites the top-k with the BFS breadth (default 10, a tree), so the chain of n
    needs breadth 1 and n + 1 verified tokens; a draft model is STANDALONE with its path."""
    from playbook.core.profiles import SpecMethod
    from playbook.serving.engines.sglang import speculative_args

    ngram = speculative_args(SpecMethod(name="n", method="ngram", num_speculative_tokens=4))
    assert ngram == ["--speculative-algorithm", "NGRAM", "--speculative-num-draft-tokens", "5",
                     "--speculative-ngram-min-bfs-breadth", "1",
                     "--speculative-ngram-max-bfs-breadth", "1"]  # fmt: skip
    draft = speculative_args(SpecMethod(name="d", method="draft_model", draft_model="/m/draft",
                                        num_speculative_tokens=3))  # fmt: skip
    assert draft[:2] == ["--speculative-algorithm", "STANDALONE"] and draft[-2:] == [
        "--speculative-draft-model-path", "/m/draft"]  # fmt: skip
    assert draft[draft.index("--speculative-eagle-topk") + 1] == "1"


def test_the_engines_beside_a_day_come_from_the_adapters_and_the_profile():
    """Which engines a day compares: every other registered engine the hardware has a build of and the profile
    configures; each left out with its reason, so the report says why its column is empty."""
    from playbook.serving.engines import engines_beside

    beside, skipped = engines_beside(load_profile("cpu-smollm2"), None)
    assert beside == [] and skipped["sglang"] == "SGLang has no CPU build on PyPI"
    beside, skipped = engines_beside(load_profile("h100-smollm2"), None)
    assert beside == ["sglang"] and "no engines.trtllm" in skipped["trtllm"]
    assert engines_beside(load_profile("h100-smollm2", ["engine=sglang"]), None)[0] == ["vllm"]
    assert engines_beside(load_profile("h100-smollm2"), []) == ([], {})
