"""The article ledger: every command, code block, number and claim of the source article, with what the
playbook did with it, and a page per run that fills the measured entries from that run's results.

Why a ledger: the playbook's users start from the article, and its corrections live where the user meets them
(a notebook cell beside the article's command). The ledger is the one list that says, for every line of the
article that carries something to run or believe, whether it runs as shown, was corrected (and to what), was
measured (and what this run measured), cannot be reproduced here (and why), or is opinion. The data is
``article_ledger.yaml``; the tests check that it covers the article and that every "where" exists.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from playbook.core.fileio import utc_now
from playbook.core.profiles import REPO_ROOT
from playbook.reports import results as R
from playbook.reports.html import render

ARTICLE = REPO_ROOT / "docs" / "article" / "source-article.zh.txt"
PAGE_NAME = "article-ledger.html"
# computed: derived by the playbook's own arithmetic (e.g. the memory planner), not run on the hardware named
Status = Literal["runs-as-shown", "corrected", "measured", "computed", "not-reproducible", "opinion", "context"]
Kind = Literal["command", "code", "manifest", "number", "claim", "advice", "context"]


class LedgerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    lines: tuple[int, int] | None = Field(description="The article's lines [first, last]; None: the playbook's own.")
    quote: str = Field(min_length=3)
    section: str
    kind: Kind
    status: Status
    real: str | None = None
    why: str
    where: list[str] = Field(min_length=1)
    measure: str | None = None


class Ledger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    article_sha256: str
    entries: list[LedgerEntry]


@cache
def load_ledger() -> Ledger:
    text = resources.files("playbook.reports").joinpath("article_ledger.yaml").read_text(encoding="utf-8")
    return Ledger.model_validate(yaml.safe_load(text))


def article_lines(path: Path = ARTICLE) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# What must have an entry ---------------------------------------------------------------------------------------------

CODE_START = re.compile(
    r"^(#|conda |pip |python |vllm |curl |-H |-d |--|\"|'|}|]|\{|import |from |@|def |return |result |print\(|"
    r"model |tokenizer|quantizer|sgl\.|[a-zA-Z.]+: |[a-zA-Z]+:$|- |CUDA_VISIBLE_DEVICES)"
)
LIST_NUMBER = re.compile(r"^\d+\.\s")


def line_kind(line: str) -> str | None:
    """Why an article line needs a ledger entry: code, a number, a table row, a rule; None: plain prose."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("|"):
        return "table row"
    if "→" in text or "原则" in text:  # a decision-tree branch, or a stated principle
        return "rule"
    if CODE_START.match(text) and not text.startswith("- Day"):
        return "code"
    if re.search(r"\d", LIST_NUMBER.sub("", text)):
        return "number"
    return None


def required_lines(lines: list[str]) -> dict[int, str]:
    """Line number (1-based) -> why it must be covered."""
    return {n: kind for n, line in enumerate(lines, 1) if (kind := line_kind(line))}


def uncovered(ledger: Ledger, lines: list[str]) -> dict[int, str]:
    covered = {n for e in ledger.entries if e.lines for n in range(e.lines[0], e.lines[1] + 1)}
    return {n: f"{kind}: {lines[n - 1]}" for n, kind in required_lines(lines).items() if n not in covered}


def problems(ledger: Ledger, lines: list[str], root: Path = REPO_ROOT) -> list[str]:
    """Everything wrong with the ledger against the article and the repository, one sentence each."""
    found = [f"line {n} has no ledger entry ({text})" for n, text in uncovered(ledger, lines).items()]
    seen: dict[int, str] = {}
    for entry in ledger.entries:
        if entry.measure and entry.measure not in MEASURES:
            found.append(f"{entry.id}: unknown measure {entry.measure!r}")
        if entry.status == "corrected" and not entry.real:
            found.append(f"{entry.id}: a correction needs 'real' (the form that works)")
        found += [f"{entry.id}: {p}" for w in entry.where if (p := where_problem(w, root))]
        if entry.lines is None:
            continue
        first, last = entry.lines
        if not 1 <= first <= last <= len(lines):
            found.append(f"{entry.id}: lines {entry.lines} are outside the article (1-{len(lines)})")
            continue
        if entry.quote not in "\n".join(lines[first - 1 : last]):
            found.append(f"{entry.id}: the quote {entry.quote!r} is not on lines {first}-{last}")
        for n in range(first, last + 1):
            if n in seen:
                found.append(f"{entry.id}: line {n} is already covered by {seen[n]}")
            seen[n] = entry.id
    return found


def article_changed(ledger: Ledger, path: Path = ARTICLE) -> str | None:
    """The ledger was written against one text of the article; another one needs a review, not a silent pass."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest == ledger.article_sha256:
        return None
    return f"{path.name} changed (sha256 {digest[:12]}...): review the ledger's entries, then update article_sha256"


def where_problem(where: str, root: Path = REPO_ROOT) -> str | None:
    """None when the pointer names something that exists; else what is missing."""
    kind, _, target = where.partition(":")
    if kind == "notebook":
        name, _, tag = target.partition("#")
        path = root / "notebooks" / name
        if not path.exists():
            return f"no notebook {name}"
        tags = {t for cell in json.loads(path.read_text())["cells"] for t in cell.get("metadata", {}).get("tags", [])}
        return None if tag in tags else f"{name} has no cell tagged {tag!r}"
    if kind == "report":
        day, _, step = target.partition(".")
        steps = getattr(R, f"Day{int(day[3:])}Steps").model_fields
        return None if step in steps else f"{day} records no step {step!r}"
    if kind in ("readme", "doc"):
        path, _, anchor = target.partition("#")
        path = root / (path or "README.md")
        if not path.exists():
            return f"no file {path.name}"
        anchors = {anchor_of(h) for h in re.findall(r"^#+\s+(.+)$", path.read_text(), re.M)}
        return None if anchor in anchors else f"{path.name} has no heading with anchor #{anchor}"
    if kind == "code":
        module, _, attribute = target.partition(":")
        try:
            loaded = importlib.import_module(module)
        except ImportError as exc:
            return f"module {module} does not import ({exc})"
        return None if not attribute or hasattr(loaded, attribute) else f"{module} has no {attribute}"
    if kind == "file":
        return None if (root / target).exists() else f"no file {target}"
    return f"unknown pointer kind {kind!r} in {where!r}"


def anchor_of(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# Measured values, from a run's results -------------------------------------------------------------------------------


Days = dict[int, R.DayResult]


def run_days(run_dir: Path) -> Days:
    """Every day of the run whose metrics.json reads as its typed result, read once for the whole page."""
    days: Days = {}
    for path in sorted(Path(run_dir).glob("day0[1-8]/metrics.json")):
        try:
            result = R.load_day_result(path)
        except (R.ResultSchemaError, OSError):
            continue
        days[result.day] = result
    return days


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _day1_curl(days: Days) -> str | None:
    r = days.get(1)
    curl = r and r.steps.curl
    return curl and f"curl exit code {curl.exit_code}; answer {str(curl.answer)[:60]!r}"


def _day1_startup(days: Days) -> str | None:
    r = days.get(1)
    server = r and r.steps.server
    return server and server.startup_s and f"engine up in {server.startup_s:.0f} s ({server.engine})"


def _day1_engine_version(days: Days) -> str | None:
    r = days.get(1)
    server = r and r.steps.server
    return server and server.version and f"{server.engine} {server.version}"


def _day1_kv(days: Days) -> str | None:
    r = days.get(1)
    kv = r and r.steps.kv_capacity
    if not kv or kv.estimated_tokens is None or kv.reported_tokens is None:
        return None
    return (f"KV pre-flight {kv.estimated_tokens:,} tokens vs {kv.reported_tokens:,} reported by the engine "
            f"({(kv.relative_error or 0):+.1%})")  # fmt: skip


def _day2_speedup(days: Days) -> str | None:
    r = days.get(2)
    rows = [row for row in (r and r.steps.speedup) or [] if row.method != "none" and row.throughput_speedup]
    if not rows:
        return None
    best = max(rows, key=lambda row: row.throughput_speedup)
    worst = min(rows, key=lambda row: row.throughput_speedup)
    return (f"{best.method}: {best.throughput_speedup:.2f}x at best ({best.workload}, c={best.concurrency}), "
            f"{worst.throughput_speedup:.2f}x at worst ({worst.workload}, c={worst.concurrency})")  # fmt: skip


def _day3_structured(days: Days) -> str | None:
    r = days.get(3)
    rows = [row for row in (r and r.steps.comparison) or [] if row.workload == "structured" and row.constrained]
    parts = []
    for engine in ("vllm", "sglang"):
        mine = [row for row in rows if row.engine == engine and row.valid_rate is not None]
        if mine:
            top = max(mine, key=lambda row: row.concurrency or 0)
            tpot = getattr(top, "tpot_p50_ms", None)
            parts.append(f"{engine}: {top.valid_rate:.0%} valid JSON, TPOT p50 {_ms(tpot)} at c={top.concurrency}")
    return "; ".join(parts) or None


def _day3_prefix(days: Days) -> str | None:
    r = days.get(3)
    rows = [row for row in (r and r.steps.comparison) or [] if row.workload == "shared-prefix" and row.prefix_caching]
    parts = [f"{row.engine}: hit rate {'n/a' if row.hit_rate is None else f'{row.hit_rate:.0%}'}, "
             f"TTFT p50 {_ms(getattr(row, 'ttft_p50_ms', None))}" for row in rows]  # fmt: skip
    return "; ".join(parts) or None


def _day4_gate(days: Days) -> str | None:
    r = days.get(4)
    gate = r and r.steps.gate
    return gate and gate.verdicts and ", ".join(f"{model}: {verdict}" for model, verdict in gate.verdicts.items())


def _fit_rows(days: Days) -> list[dict]:
    r = days.get(4)
    return list(getattr(r.steps, "fit_24gb", None) or []) if r else []


def _day4_fit_24gb(days: Days) -> str | None:
    fits = [f"{row['model']} {row['weights']}" for row in _fit_rows(days) if row.get("fits")]
    return fits and "fits on 24 GB: " + ", ".join(fits)


def _day4_fit_24gb_70b(days: Days) -> str | None:
    row = next((r for r in _fit_rows(days) if "70b" in r["model"] and r["weights"] != "bf16"), None)
    return row and f"{row['model']} {row['weights']}: {row['weights_GiB']:.1f} GiB of weights, fits: {row['fits']}"


def _day5_manifest(days: Days) -> str | None:
    r = days.get(5)
    found = r and r.steps.article_manifest_problems
    return found and f"{len(found)} validation errors in the article's manifest"


def _day5_pitfall4(days: Days) -> str | None:
    r = days.get(5)
    p4 = r and getattr(r.steps, "pitfall4_two_instances_one_gpu", None)
    attempts = p4 and p4.attempts
    return attempts and "; ".join(f"{a.label}: {'started' if getattr(a, 'started', None) else 'refused'}"
                                  for a in attempts)  # fmt: skip


def _day5_healthcheck(days: Days) -> str | None:
    r = days.get(5)
    check = r and r.steps.healthcheck
    return check and f"health check: {'ok' if check.ok else 'failed'} ({check.reason})"


def _day6_lora_name(days: Days) -> str | None:
    r = days.get(6)
    step = r and r.steps.article_lora_name
    return step and ("lora_name ignored: answered by the base model" if step.ignored
                     else "lora_name changed the answer")  # fmt: skip


def _day6_mixed(days: Days) -> str | None:
    r = days.get(6)
    rows = (r and r.steps.mixed_traffic) or []
    return rows and "; ".join(f"{row.traffic}: {row.output_tok_s:,.0f} tok/s" for row in rows if row.output_tok_s)


def _day7_peak(days: Days) -> str | None:
    r = days.get(7)
    peak = r and r.steps.peak
    if not peak:
        return None
    s = peak.summary
    return (f"{s.successes}/{s.requests} ok; TTFT P50/P95/P99 {_ms(s.ttft.p50_ms)} / {_ms(s.ttft.p95_ms)} / "
            f"{_ms(s.ttft.p99_ms)}; {s.output_throughput_tok_s:,.0f} output tok/s")  # fmt: skip


def _day8_decision(days: Days) -> str | None:
    r = days.get(8)
    decision = r and r.steps.decision
    return decision and f"{decision.engine}: {decision.rule}"


def _day8_measured(days: Days) -> str | None:
    r = days.get(8)
    verdict = r and r.steps.measured_verdict
    if not verdict:
        return None
    tie = " (a tie)" if verdict.tie else ""
    return f"measured: {verdict.engine or 'none yet'}{tie}: {verdict.reason}"


MEASURES: dict[str, Callable[[Days], str | None]] = {
    "day1_curl": _day1_curl, "day1_startup": _day1_startup, "day1_engine_version": _day1_engine_version,
    "day1_kv_preflight": _day1_kv, "day2_speedup": _day2_speedup, "day3_structured": _day3_structured,
    "day3_prefix": _day3_prefix, "day4_gate": _day4_gate, "day4_fit_24gb": _day4_fit_24gb,
    "day4_fit_24gb_70b": _day4_fit_24gb_70b, "day5_article_manifest": _day5_manifest, "day5_pitfall4": _day5_pitfall4,
    "day5_healthcheck": _day5_healthcheck, "day6_lora_name": _day6_lora_name, "day6_mixed": _day6_mixed,
    "day7_peak": _day7_peak, "day8_decision": _day8_decision,
    "day8_measured_verdict": _day8_measured,
}  # fmt: skip


def measured(entry: LedgerEntry, days: Days) -> str | None:
    """What this run measured for the entry, or None (the day did not run, or did not record it)."""
    if not entry.measure:
        return None
    try:
        return MEASURES[entry.measure](days) or None
    except (KeyError, TypeError, AttributeError, ValueError):
        return None


def write_ledger_page(run_dir: Path, ledger: Ledger | None = None) -> Path:
    """``<run>/article-ledger.html``: the ledger with this run's measurements beside the entries that ask for one."""
    ledger = ledger or load_ledger()
    days = run_days(run_dir)
    rows = [{"entry": e, "measured": measured(e, days)} for e in ledger.entries]
    counts = {s: sum(1 for e in ledger.entries if e.status == s) for s in Status.__args__}
    filled = sum(1 for row in rows if row["measured"])
    page = render("ledger.html.j2", rows=rows, counts=counts, filled=filled, run=Path(run_dir).name,
                  asked=sum(1 for e in ledger.entries if e.measure), generated=utc_now())  # fmt: skip
    path = Path(run_dir) / PAGE_NAME
    path.write_text(page)
    return path
