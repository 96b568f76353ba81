"""Your own prompts (``dataset: file:PATH``): a JSONL of chat messages or ShareGPT-shaped JSON, each bad row a
one-line error naming its line and the fix, checked before anything expensive starts; no prompt sent twice."""

from __future__ import annotations

import json

import pytest

from playbook.core.errors import PlaybookError, ProfileError
from playbook.core.profiles import load_profile
from playbook.load.datasets import build_requests


def write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def ask(text, **extra):
    return {"messages": [{"role": "user", "content": text}], **extra}


def test_a_jsonl_of_chat_messages_gives_distinct_requests(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", [ask("a"), ask("b", max_tokens=7), ask("a"), "", ask("c")])
    samples = build_requests(f"file:{path}", 3, seed=0, output_tokens=64)
    assert sorted(s.messages[0]["content"] for s in samples) == ["a", "b", "c"]  # "a" twice in the file: sent once
    assert {s.messages[0]["content"]: s.max_tokens for s in samples} == {"a": 64, "b": 7, "c": 64}
    with pytest.raises(PlaybookError, match="4 requests asked for, the file holds 3 distinct ones"):
        build_requests(f"file:{path}", 4, seed=0)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("{not json", r"mine\.jsonl:2: not JSON"),
        (json.dumps({"prompt": "x"}), r'mine\.jsonl:2: no "messages" list; write \{"messages"'),
        (json.dumps({"messages": [{"role": "robot", "content": "x"}]}), r"mine\.jsonl:2: a message needs a role"),
        (json.dumps(ask("x", max_tokens=0)), r"mine\.jsonl:2: max_tokens must be a whole number >= 1"),
    ],
)
def test_a_bad_row_is_one_line_naming_its_line(tmp_path, row, problem):
    path = write_jsonl(tmp_path / "mine.jsonl", [ask("fine"), row])
    with pytest.raises(PlaybookError, match=problem) as raised:
        build_requests(f"file:{path}", 1, seed=0)
    assert "\n" not in str(raised.value)


def test_a_sharegpt_shaped_file_takes_first_turns(tmp_path):
    first = [{"from": "human", "value": "hello there"}, {"from": "gpt", "value": "hi " * 40}]
    conversations = [{"conversations": first}, {"conversations": [{"from": "gpt", "value": "no human first"}]}]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(conversations))
    (sample,) = build_requests(f"file:{path}", 1, seed=0, output_tokens=16)
    assert sample.messages == [{"role": "user", "content": "hello there"}] and sample.max_tokens == 16


def test_a_profile_naming_a_missing_file_fails_before_anything_starts(tmp_path):
    with pytest.raises(ProfileError, match=r"days\.day7\.dataset.*no such file"):
        load_profile("cpu-smollm2", [f"days.day7.dataset=file:{tmp_path / 'absent.jsonl'}"])
    with pytest.raises(ProfileError, match=r"give a \.jsonl file of chat messages"):
        load_profile("cpu-smollm2", [f"days.day7.dataset=file:{tmp_path / 'prompts.txt'}"])


def test_the_loadtest_cli_refuses_an_unknown_dataset(capsys):
    from playbook.cli import main

    with pytest.raises(SystemExit):
        main(["loadtest", "--base-url", "http://x", "--model", "m", "--dataset", "nonsense"])
    assert "unknown dataset 'nonsense'" in capsys.readouterr().err
