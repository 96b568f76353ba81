"""Multi-turn sessions: the traffic prefix caching exists for.

``conversations`` chats of ``turns`` turns each. Every turn resends the whole conversation so far, the model's
previous answers included, plus a new user message, so turn *k* shares all of turn *k-1*'s prompt and answer with
the server's cache. The turns run in lockstep: every conversation sends its turn *k* at once (a closed loop of
``conversations``), then waits ``think_s`` (a user reading and typing), then turn *k+1*. Lockstep is what makes
the prefix-cache counters attributable: they are read between turns, so each turn gets its own hit rate, beside
its TTFT. Every user message is a distinct window of real prose; none is sent twice.

    playbook sessions --base-url URL --model NAME --conversations 8 --turns 4 --think-s 1
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from playbook.core.fileio import write_json_atomic
from playbook.load.cache import hit_rate_between, read_counters
from playbook.load.client import RequestRecord
from playbook.load.datasets import SampleRequest, TokenCounter, synthetic_requests
from playbook.load.loadgen import LoadConfig, LoadResult, read_records, run_load
from playbook.serving.endpoint import Endpoint


class SessionSettings(BaseModel):
    """One multi-turn run. Validated before anything is sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    conversations: int = Field(8, ge=1, description="Chats run side by side (each turn: this many in flight).")
    turns: int = Field(4, ge=2, description="User messages per chat (the first has nothing cached to reuse).")
    think_s: float = Field(1.0, ge=0, description="Pause between turns: a user reading and typing.")
    input_tokens: int = Field(64, ge=1, description="Tokens of each new user message.")
    output_tokens: int = Field(32, ge=1, description="Tokens of each answer (ignore_eos: exactly this many).")
    seed: int = Field(0, description="Seed of the user messages.")


@dataclass(frozen=True)
class TurnRow:
    """One turn across every conversation."""

    turn: int
    requests: int
    ok: int
    prompt_tokens_mean: float | None  # as the server counted them: grows turn by turn
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    tpot_p50_ms: float | None
    hit_rate: float | None  # the prefix cache's hits over lookups during this turn; None: no counters exposed


def user_messages(settings: SessionSettings, tokenizer_dir: str | Path | None) -> list[list[str]]:
    """``conversations`` lists of ``turns`` distinct messages (no text anywhere twice)."""
    total = settings.conversations * settings.turns
    texts = [s.messages[-1]["content"] for s in synthetic_requests(
        total, settings.seed, TokenCounter(tokenizer_dir), settings.input_tokens, settings.output_tokens)]  # fmt: skip
    return [texts[i * settings.turns : (i + 1) * settings.turns] for i in range(settings.conversations)]


def run_sessions(endpoint: Endpoint, settings: SessionSettings, out_dir: Path,
                 tokenizer_dir: str | Path | None = None) -> list[TurnRow]:  # fmt: skip
    """Every turn's load run into ``out_dir/turn-<k>/`` (records, summary, CSVs) and ``sessions.json`` with the
    per-turn rows, rewritten after each turn (a run cut short keeps the turns it finished)."""
    out_dir = Path(out_dir)
    messages = user_messages(settings, tokenizer_dir)
    histories: list[list[dict[str, str]]] = [[] for _ in messages]
    config = LoadConfig(concurrency=settings.conversations, scrape_interval_s=None, seed=settings.seed)
    rows: list[TurnRow] = []
    for turn in range(settings.turns):
        if turn:
            time.sleep(settings.think_s)
        samples = [SampleRequest([*history, {"role": "user", "content": texts[turn]}], settings.output_tokens, 0)
                   for history, texts in zip(histories, messages, strict=True)]  # fmt: skip
        before = read_counters(endpoint)
        result = run_load(endpoint, config, samples, out_dir / f"turn-{turn + 1}", desc=f"turn {turn + 1}")
        after = read_counters(endpoint) if before is not None else None
        answers = {r.request_id: r for r in read_records(result.requests_path)}
        for i, sample in enumerate(samples):  # the conversation goes on with what the model answered
            histories[i] = [*sample.messages, {"role": "assistant", "content": answers[i].output_text if i in
                                                answers else ""}]  # fmt: skip
        rows.append(turn_row(turn + 1, result, answers.values(), hit_rate_between(before, after).rate
                             if before is not None and after is not None else None))  # fmt: skip
        write_json_atomic(out_dir / "sessions.json", {"settings": settings.model_dump(),
                                                      "turns": [asdict(r) for r in rows]})  # fmt: skip
    return rows


def turn_row(turn: int, result: LoadResult, records: Iterable[RequestRecord], hit_rate: float | None) -> TurnRow:
    prompts = [r.prompt_tokens for r in records if r.success and r.prompt_tokens]
    s = result.summary
    return TurnRow(turn, s.requests, s.successes, sum(prompts) / len(prompts) if prompts else None,
                   s.ttft.p50_ms, s.ttft.p95_ms, s.tpot.p50_ms, hit_rate)  # fmt: skip


def format_rows(rows: list[TurnRow]) -> str:
    """A plain table for the terminal."""
    lines = ["turn  ok/sent  prompt tok  TTFT p50/p95 ms   TPOT p50 ms  prefix-cache hits"]
    for r in rows:
        hit = f"{r.hit_rate:.0%}" if r.hit_rate is not None else "n/a"
        ttft = f"{r.ttft_p50_ms or 0:,.0f} / {r.ttft_p95_ms or 0:,.0f}"
        lines.append(f"{r.turn:>4}  {r.ok:>3}/{r.requests:<4} {r.prompt_tokens_mean or 0:>10,.0f}  {ttft:>15}  "
                     f"{r.tpot_p50_ms or 0:>11.1f}  {hit:>17}")  # fmt: skip
    return "\n".join(lines)
