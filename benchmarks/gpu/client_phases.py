"""Where each client's round of the fidelity check spent its time, read from the SGLang server's own log.

SGLang's client took about 70 s a round beyond its requests on 2026-12-05 (H100), and its printed output of that
lease was not kept. The server log was: every round starts with ``POST /flush_cache`` (the cold cache), each client
then asks ``GET /v1/models`` (SGLang's client as its ready check, once its process has started and imported), and
sends its requests. So the log splits each round into: the client's start (flush to the ready check), its setup
(the ready check to the first request's prefill: in SGLang's client ``check_chat_template``, the tokenizer, the
dataset) and its admissions (that prefill to the last request's access-log line). The server writes a streamed
request's access-log line when its answer starts, not when it ends (on 2026-12-05, c = 1000's 1,000 lines came
within 6 s of a 19 s round), so the last column is not the round's length (each client's records have that). Run as::

    PYTHONPATH=benchmarks .venv/bin/python benchmarks/gpu/client_phases.py \\
        reference/h100-2026-12-05b/fidelity-sglang/records-c1-rerun/server.log.gz

The log has whole seconds only, and it cannot tell the clients apart: the check runs ours first in every round,
so rounds are labelled ours and SGLang's in turn, and numbered in pairs across the levels. It reads a SGLang
server's log only (its ``[YYYY-MM-DD HH:MM:SS]`` stamps, its ``Prefill batch`` lines).
"""

from __future__ import annotations

import argparse
import gzip
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\]")


@dataclass
class Phases:
    """One client's round: seconds from the flush to its ready check, to its first prefill, and on to the access-log
    line of its last request (written when that answer starts)."""

    flushed: datetime
    ready: datetime | None = None
    first: datetime | None = None
    last: datetime | None = None
    requests: int = 0

    def seconds(self) -> tuple[int, int, int]:
        return ((self.ready - self.flushed).seconds, (self.first - self.ready).seconds,
                (self.last - self.first).seconds)  # fmt: skip


def phases_of(lines) -> list[Phases]:
    """The rounds of a SGLang server log, each opened by a cache flush; a round that sent nothing is left out."""
    rounds: list[Phases] = []
    for line in lines:
        stamp = STAMP.match(line)
        if not stamp:
            continue
        when = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S")
        if "POST /flush_cache" in line:
            rounds.append(Phases(when))
        elif rounds and "GET /v1/models" in line and rounds[-1].ready is None:
            rounds[-1].ready = when
        elif rounds and ("Prefill batch" in line or "POST /v1/chat/completions" in line):
            rounds[-1].ready = rounds[-1].ready or rounds[-1].flushed  # a client that asks no ready check
            rounds[-1].first = rounds[-1].first or when
            if "POST /v1/chat/completions" in line:
                rounds[-1].last, rounds[-1].requests = when, rounds[-1].requests + 1
    return [r for r in rounds if r.requests]


def print_phases(log: Path) -> None:
    opener = gzip.open if log.suffix == ".gz" else open
    with opener(log, "rt", errors="replace") as source:
        rounds = phases_of(source)
    if not rounds:
        raise SystemExit(f"{log}: no round (a flush, a GET /v1/models, then requests) in it")
    print("| pair | client | start s | setup s | requests | admissions s |\n|---|---|---|---|---|---|")
    for i, found in enumerate(rounds):
        start, setup, sending = found.seconds()
        client = "ours" if i % 2 == 0 else "SGLang's"
        print(f"| {i // 2 + 1} | {client} | {start} | {setup} | {found.requests} | {sending} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("server_log", type=Path, help="a SGLang server's log of the check (.gz or plain)")
    print_phases(parser.parse_args().server_log)


if __name__ == "__main__":
    main()
