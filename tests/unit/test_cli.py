"""`playbook loadtest`: its flags come from LoadConfig, so the CLI and the library share one set of defaults."""

from __future__ import annotations

import json

from playbook.cli import build_parser, main
from playbook.load.loadgen import LoadConfig


def loadtest_args(*extra: str):
    return build_parser().parse_args(["loadtest", "--base-url", "http://127.0.0.1:9", "--model", "m", *extra])


def test_every_loadconfig_field_is_a_flag_with_the_models_default():
    args = loadtest_args()
    for name, field in LoadConfig.model_fields.items():
        if name in ("base_url", "model", "concurrency"):  # required in the model; the CLI defaults concurrency
            continue
        assert getattr(args, name) == field.default, name


def test_flags_reach_the_config_with_their_short_aliases():
    args = loadtest_args("--warmup", "3", "--request-timeout", "2.5", "--max-duration", "9", "--no-ignore-eos",
                         "--mode", "open", "--request-rate", "4")  # fmt: skip
    config = LoadConfig(**{name: getattr(args, name) for name in LoadConfig.model_fields})
    assert (config.warmup_requests, config.request_timeout_s, config.max_duration_s) == (3, 2.5, 9)
    assert config.ignore_eos is False and config.mode == "open" and config.request_rate == 4


def test_loadtest_runs_against_an_endpoint_and_a_bad_value_is_one_line(mock_server, tmp_path, capsys):
    _, url = mock_server
    out = tmp_path / "lt"
    code = main(["loadtest", "--base-url", url, "--model", "mock-model", "--requests", "6", "--concurrency", "3",
                 "--dataset", "synthetic", "--input-tokens", "16", "--output-tokens", "8", "--request-timeout", "30",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    assert json.loads((out / "summary.json").read_text())["summary"]["successes"] == 6
    assert main(["loadtest", "--base-url", url, "--model", "mock-model", "--request-timeout", "-1"]) != 0
    assert "--request-timeout-s" in capsys.readouterr().err
