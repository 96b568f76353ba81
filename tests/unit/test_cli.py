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


def test_an_api_key_variable_named_but_unset_stops_the_load_test_before_any_request(capsys, monkeypatch):
    monkeypatch.delenv("PLAYBOOK_TEST_UNSET", raising=False)
    code = main(
        ["loadtest", "--base-url", "http://127.0.0.1:9", "--model", "m", "--api-key-env", "PLAYBOOK_TEST_UNSET"]
    )
    assert code != 0 and "--api-key-env names PLAYBOOK_TEST_UNSET, but that environment variable is not set" in (
        capsys.readouterr().err
    )


def test_k8s_validate_on_a_missing_or_broken_file_is_one_line(tmp_path, capsys):
    (tmp_path / "broken.yaml").write_text("kind: [unclosed\n")
    for path in (tmp_path / "absent.yaml", tmp_path / "broken.yaml"):
        assert main(["k8s", "validate", str(path)]) != 0
        err = capsys.readouterr().err.strip()
        assert "cannot be read as YAML" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_days_named_twice_run_once_and_the_rerun_command_is_quoted():
    from playbook.run.runner import parse_days, rerun_command

    assert parse_days("7,1,7") == [7, 1]
    command = rerun_command("/tmp/my profiles/p.yaml", [1, 7], ["model.served_name=it's"])
    assert command == "playbook run --profile '/tmp/my profiles/p.yaml' --days 1,7 --set 'model.served_name=it'\"'\"'s'"
