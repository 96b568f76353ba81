"""Multi-turn sessions on the mock server (which records what it was sent): each turn resends the conversation with
the model's previous answers, every user message is new, and the turns come back as rows."""

from __future__ import annotations

import json

from playbook.load.sessions import SessionSettings, run_sessions, user_messages
from playbook.serving.endpoint import Endpoint
from tests.support.mock import start_mock


def test_each_turn_resends_the_conversation_with_the_answers_so_far(tmp_path):
    bodies = tmp_path / "bodies.jsonl"
    proc, url = start_mock("--bodies", str(bodies))
    settings = SessionSettings(conversations=3, turns=3, think_s=0, input_tokens=16, output_tokens=4)
    try:
        rows = run_sessions(Endpoint(url, "mock-model"), settings, tmp_path / "out")
    finally:
        proc.kill()
    assert [(r.turn, r.requests, r.ok) for r in rows] == [(1, 3, 3), (2, 3, 3), (3, 3, 3)]
    sent = [json.loads(line)["messages"] for line in bodies.read_text().splitlines()]
    sent = [m for m in sent if not m[-1]["content"].startswith("Warm-up")]
    assert sorted(len(m) for m in sent) == [1, 1, 1, 3, 3, 3, 5, 5, 5]  # user, (assistant, user) per later turn
    last = [m for m in sent if len(m) == 5]
    assert all(m[1]["role"] == m[3]["role"] == "assistant" and m[1]["content"] for m in last)
    users = [msg["content"] for m in last for msg in m if msg["role"] == "user"]
    assert len(users) == len(set(users)) == 9  # no user message twice, across every chat and turn
    assert json.loads((tmp_path / "out" / "sessions.json").read_text())["settings"]["turns"] == 3


def test_the_user_messages_are_distinct_and_seeded():
    settings = SessionSettings(conversations=4, turns=3, input_tokens=16)
    chats = user_messages(settings, None)
    assert [len(c) for c in chats] == [3, 3, 3, 3] and len({t for c in chats for t in c}) == 12
    assert chats == user_messages(settings, None)


def test_bad_settings_fail_by_flag_name_before_anything_is_sent(capsys):
    from playbook.cli import main

    code = main(["sessions", "--base-url", "http://127.0.0.1:9", "--model", "m", "--turns", "1"])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith("error: --turns: ") and error.count("\n") == 1
