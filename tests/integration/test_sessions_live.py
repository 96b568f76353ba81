"""Multi-turn sessions against the live vLLM CPU server: each turn resends the conversation, so from turn 2 on the
prefix cache serves most of the prompt; per-turn TTFT and hit rate come back."""

from __future__ import annotations

import json

import pytest

from playbook.load.sessions import SessionSettings, run_sessions

pytestmark = pytest.mark.server


def test_later_turns_reuse_the_conversation_from_the_cache(live_server, prepared_model, tmp_path):
    settings = SessionSettings(conversations=2, turns=3, think_s=0.2, input_tokens=48, output_tokens=16)
    rows = run_sessions(live_server.endpoint, settings, tmp_path, prepared_model.local_dir)
    assert [r.turn for r in rows] == [1, 2, 3] and all(r.ok == 2 for r in rows)
    assert rows[0].prompt_tokens_mean < rows[1].prompt_tokens_mean < rows[2].prompt_tokens_mean
    # turn 1 shares only the chat template's opening; turn 3 resends two earlier exchanges the cache holds
    assert rows[2].hit_rate is not None and rows[2].hit_rate > 0.5 > (rows[0].hit_rate or 0)
    assert all(r.ttft_p50_ms and r.ttft_p50_ms > 0 for r in rows)
    saved = json.loads((tmp_path / "sessions.json").read_text())
    assert [t["turn"] for t in saved["turns"]] == [1, 2, 3] and (tmp_path / "turn-3" / "requests.csv").exists()
