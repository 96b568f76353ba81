"""Rows of a Day 7 sweep that was cut before the day ended, from the records each level wrote.

Why: a device call can end before Day 7 writes its ``metrics.json`` steps (the 7B shape's sweep with 3 rounds
a level and the extension to the knee outran a 500 s call on 2026-12-04), while every finished round has its
per-request records on disk. This reads them back with the day's own rules: each round's steady window
(``load.metrics.steady_state``, the window the day reports), one row a round, then the median round and the
spread over rounds a level (``load.rounds.level_rows``). The server's prefix-cache counters around each round
were not kept by a cut run, so the hit rate is not in these rows.

    .venv/bin/python benchmarks/gpu/partial_day7.py DAY07_FOLDER > levels.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from playbook.load.loadgen import read_records
from playbook.load.metrics import steady_state, summarize
from playbook.load.rounds import level_rows

FOLDER = re.compile(r"c(\d{4})(?:-r(\d+))?$")
ROUND_KEYS = ("ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms", "e2e_p50_ms", "output_tok_s", "req_s")


def round_row(folder: Path) -> dict | None:
    """One round's row from its ``requests.jsonl``; None for a folder without records."""
    found = FOLDER.match(folder.name)
    records_file = folder / "requests.jsonl"
    if not found or not records_file.exists():
        return None
    concurrency, round_number = int(found.group(1)), int(found.group(2) or 1)
    records = read_records(records_file)
    whole, steady = summarize(records), steady_state(records, concurrency)
    s = steady or whole
    return {"concurrency": concurrency, "round": round_number, "requests": whole.requests, "ok": whole.successes,
            "status": "ok" if whole.successes == whole.requests else "partial",
            "measured": "steady state" if steady else "whole run", "measured_requests": s.requests,
            **s.row(*ROUND_KEYS), "duration_s": s.duration_s}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("day07", type=Path)
    args = parser.parse_args()
    rounds = [row for folder in sorted(args.day07.iterdir()) if (row := round_row(folder))]
    rounds.sort(key=lambda r: (r["concurrency"], r["round"]))
    json.dump({"rounds": rounds, "levels": level_rows(rounds)}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
