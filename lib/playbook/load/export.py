"""A load run for a spreadsheet: ``summary.csv`` (one row) and ``requests.csv`` (one row a request) beside the JSON.

The JSON files stay the record (every inter-token gap, the error text); the CSVs are what a team pastes into a
sheet or loads with one ``read_csv``. Columns are flat: a request's inter-token gaps become their count and mean,
its output text is left out (it is in ``requests.jsonl``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from statistics import fmean

from playbook.load.client import RequestRecord
from playbook.load.metrics import LatencySummary

REQUEST_COLUMNS = ("request_id", "start_unix_s", "scheduled_unix_s", "success", "status_code", "error_kind",
                   "attempts", "prompt_tokens", "completion_tokens", "ttft_ms", "tpot_ms", "e2e_ms", "itl_count",
                   "itl_mean_ms")  # fmt: skip


def request_row(record: RequestRecord) -> dict[str, object]:
    data = record.to_dict()
    gaps = record.itl_ms
    data.update(itl_count=len(gaps), itl_mean_ms=fmean(gaps) if gaps else None)
    return {column: data.get(column) for column in REQUEST_COLUMNS}


def summary_row(summary: LatencySummary, status: str) -> dict[str, object]:
    """The run's status, counts, throughputs and every latency percentile, one column each (the day tables'
    column names)."""
    return {"status": status, **summary.row(), "total_tok_s": summary.total_throughput_tok_s,
            "retried_ok": summary.retried_successes}  # fmt: skip


def write_csvs(out_dir: Path, records: list[RequestRecord], summary: LatencySummary, status: str) -> None:
    _write(out_dir / "requests.csv", REQUEST_COLUMNS, [request_row(r) for r in records])
    row = summary_row(summary, status)
    _write(out_dir / "summary.csv", tuple(row), [row])


def _write(path: Path, columns: tuple[str, ...], rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
