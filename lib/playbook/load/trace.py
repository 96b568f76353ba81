"""Replay a timestamped trace: ``--dataset trace:PATH``, when your traffic's *timing* matters, not its text.

A trace is a JSONL file, one request a line, in any order::

    {"arrival_s": 0.000, "input_tokens": 512, "output_tokens": 128}
    {"arrival_s": 0.137, "input_tokens": 87, "output_tokens": 301}

``arrival_s`` is the send time in seconds from the trace's start; the lengths are in the served model's tokens.
Production logs rarely keep prompt text, and a replay must not send a text twice (a cache hit is not your
traffic), so every prompt is a distinct window of real prose cut to its ``input_tokens``, and ``max_tokens`` is
``output_tokens`` (with ``ignore_eos``, exactly that many; ``datasets.trace_requests`` builds them). The load
generator sends each at its ``arrival_s`` divided by ``trace_speed`` (2: twice as fast), in open loop; a request
late behind the client's own cap is measured from its scheduled time, so the queue shows.
``docs/examples/trace.jsonl`` is an example.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from playbook.core.errors import PlaybookError

FIELDS = ("arrival_s", "input_tokens", "output_tokens")


@dataclass(frozen=True)
class TraceRow:
    arrival_s: float
    input_tokens: int
    output_tokens: int


def read_trace(path: Path) -> list[TraceRow]:
    """Every row, checked, in arrival order; a bad row is a one-line error naming ``file:line`` and the fix."""
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if line.strip():
            rows.append(_row(line, f"{path}:{number}"))
    if not rows:
        raise PlaybookError(f"{path}: the trace has no rows; write one JSON object a line: {json.dumps(_EXAMPLE)}")
    return sorted(rows, key=lambda r: r.arrival_s)


_EXAMPLE = {"arrival_s": 0.0, "input_tokens": 512, "output_tokens": 128}


def _row(line: str, where: str) -> TraceRow:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PlaybookError(f"{where}: not JSON ({exc.msg}); write one object a line") from None
    if not isinstance(data, dict) or any(key not in data for key in FIELDS):
        raise PlaybookError(f"{where}: a trace row needs {', '.join(FIELDS)}, e.g. {json.dumps(_EXAMPLE)}")
    arrival, prompt, output = (data[key] for key in FIELDS)
    if isinstance(arrival, bool) or not isinstance(arrival, (int, float)) or arrival < 0:
        raise PlaybookError(f"{where}: arrival_s must be a number of seconds >= 0 from the trace's start")
    for key, value in (("input_tokens", prompt), ("output_tokens", output)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PlaybookError(f"{where}: {key} must be a whole number >= 1")
    return TraceRow(float(arrival), prompt, output)
