"""What makes two launches one server in the run's pool (``serving.pool``): the argv without the port and the
environment the launcher adds, nothing else; and which day a server's log belongs to."""

from __future__ import annotations

from pathlib import Path

from playbook.core.profiles import load_profile
from playbook.days.context import variant_profile
from playbook.serving.pool import day_of, server_key


def test_the_key_is_the_argv_and_the_added_environment():
    profile = load_profile("cpu-smollm2")
    key = server_key(profile, "vllm", "/models/m")
    assert server_key(load_profile("cpu-smollm2", ["server.port=8011"]), "vllm", "/models/m") == key  # port aside
    assert server_key(variant_profile(profile, "vllm"), "vllm", "/models/m") == key  # Day 4's float32 original
    assert server_key(profile, "vllm", "/models/other") != key
    assert server_key(variant_profile(profile, "vllm", enable_prefix_caching=False), "vllm", "/models/m") != key
    knob = load_profile("cpu-smollm2", ["engines.vllm.env.VLLM_CPU_NUM_OF_RESERVED_CPU='1'"])
    assert server_key(knob, "vllm", "/models/m") != key


def test_a_server_belongs_to_the_day_folder_its_log_is_under():
    assert day_of(Path("/runs/run-0001/day02/none/server.log")) == "day02"
    assert day_of(Path("/runs/run-0001/day07/server.log")) == "day07"
    assert day_of(Path("/elsewhere/server.log")) == "elsewhere"
