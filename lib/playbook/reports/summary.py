"""The box at the top of every day's report: the verdict, a few headline numbers with units, one
sentence computed from them, and what was not run and why, all from the day's typed result.

A reader who opens a report sees the answer before any narrative; the numbers are the same
fields the selection report reads, so the two never disagree.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from playbook.reports.results import (
    Day1Result,
    Day2Result,
    Day3Result,
    Day4Result,
    Day6Result,
    Day7Result,
    Day8Result,
    DayResult,
    ResultSchemaError,
    load_day_result,
)


@dataclass(frozen=True)
class Headline:
    label: str
    value: str


@dataclass(frozen=True)
class DaySummary:
    verdict: str  # the day's status: ok, partial, failed, running (died), interrupted
    headlines: list[Headline] = field(default_factory=list)
    conclusion: str | None = None
    problems: list[str] = field(default_factory=list)  # failed checks and cut-short measurements
    not_run: list[str] = field(default_factory=list)  # "step: reason"
    checks: list[tuple[bool, str]] = field(default_factory=list)  # every check the day made, in order
    sizing: list[str] = field(default_factory=list)  # the budget's verdict, then each count it changed


def sizing_lines(result: DayResult) -> list[str]:
    """What a time budget changed on this machine (``steps.work_sizing``): its summary, then each count it shrank, with
    the minimum's reason and the confidence the count leaves."""
    plan = result.steps.work_sizing
    if plan is None:
        return []
    changed = [f"{c.key}: {c.used} of the profile's {c.wanted} (floor {c.minimum}: {c.why_minimum})"
               + (f"; {c.confidence}" if c.confidence else "") for c in plan.counts if c.used != c.wanted]  # fmt: skip
    return [plan.summary, *changed]


def _ms(value: float | None) -> str:
    return "not measured" if value is None else f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _day1(result: Day1Result) -> tuple[list[Headline], str | None]:
    s = result.steps
    found = []
    if s.reference_check:
        found.append(Headline("greedy agreement with transformers", f"{s.reference_check.mean_agreement or 0:.0%}"))
    if s.kv_capacity and s.kv_capacity.relative_error is not None:
        found.append(Headline("KV pre-flight vs the engine's report", f"{100 * s.kv_capacity.relative_error:+.1f} %"))
    if s.latency:
        found += [Headline("TTFT p50", _ms(s.latency.ttft.p50_ms)), Headline("TPOT p50", _ms(s.latency.tpot.p50_ms))]
    if s.machine_speed:
        speed = s.machine_speed
        burst = f"{speed.burst_output_tok_s:,.0f} output tok/s, {speed.parallel_gain:.1f}x one stream"
        found.append(Headline(f"a burst of {speed.burst_concurrency} (what later days are sized on)", burst))
    check = s.reference_check
    sentence = None if check is None else (
        "The engine decodes the same tokens as transformers." if check.passed
        else "The engine's greedy tokens diverge from transformers': check the dtype before trusting any number."
    )  # fmt: skip
    return found, sentence


def _day2(result: Day2Result) -> tuple[list[Headline], str | None]:
    best = result.best_speedup_at_c1()
    found = [Headline("best speculative speedup at c=1", "not measured" if best is None else f"{best:.2f}x")]
    return found, (result.steps.conclusion or [None])[0]


def _day3(result: Day3Result) -> tuple[list[Headline], str | None]:
    engines = result.engines()
    if not engines:  # the day stopped before its comparison table (its problems say why)
        return [], "The day ended before its comparison table: no engine's rows were recorded."
    main = engines[0]
    constrained = next(iter(result.rows(main, "structured", constrained=True)), None)
    free = next(iter(result.rows(main, "structured", constrained=False)), None)
    hit = result.prefix_hit_rate(main) if main else None
    found = []
    if constrained and free and constrained.valid_rate is not None and free.valid_rate is not None:
        rates = f"{constrained.valid_rate:.0%} vs {free.valid_rate:.0%}"
        found.append(Headline(f"{main}: valid JSON, constrained vs prompt-only", rates))
    if hit is not None:
        found.append(Headline(f"{main}: prefix-cache hit rate, shared prefixes", f"{hit:.0%}"))
    if len(engines) > 1:
        sentence = f"{', '.join(engines[1:])} ran beside {main} on the same tasks."
    else:
        why = "; ".join(f"{name}: {reason}" for name, reason in result.skipped.items() if name.endswith("_structured"))
        sentence = f"Only {main} ran here" + (f" ({why})." if why else " (no other engine was asked for).")
    if constrained and constrained.valid_rate is not None and constrained.valid_rate < 1 and not result.failures:
        # the day's check passed: every constrained answer that finished was valid, so the rest were cut short
        sentence += (
            f" Constrained answers fell short of 100 % valid ({constrained.valid_rate:.0%}) only where "
            "generation hit max_tokens: a grammar keeps every prefix valid but cannot make the model stop."
        )
    return found, sentence


def _day4(result: Day4Result) -> tuple[list[Headline], str | None]:
    gate = result.steps.gate
    if gate is None or not gate.verdicts:
        return [], None
    rises = {c.model: c.change for c in gate.checks if c.name.startswith("perplexity") and c.change is not None}
    found = [Headline(model, f"{verdict}, perplexity {rises.get(model, float('nan')):+.1f} %")
             for model, verdict in gate.verdicts.items()]  # fmt: skip
    passed = [m for m, v in gate.verdicts.items() if v == "PASS"]
    serving = result.steps.quantized_serving
    how = f" (served {serving.mode})" if serving else ""
    sentence = f"{len(passed)} of {len(gate.verdicts)} quantized models pass the profile's quality gate{how}."
    return found, sentence


def _day6(result: Day6Result) -> tuple[list[Headline], str | None]:
    ratio = result.mixed_over_base()
    found = [Headline("mixed-adapter / base-only throughput", "not measured" if ratio is None else f"{ratio:.2f}x")]
    return found, None


def _day7(result: Day7Result) -> tuple[list[Headline], str | None]:
    peak = result.steps.peak
    found, sentence = [], None
    if peak:
        s = peak.summary
        found += [Headline(f"{s.requests} concurrent requests", f"{s.successes}/{s.requests} ok"),
                  Headline("TTFT P99 at the peak", _ms(s.ttft.p99_ms)),
                  Headline("output tokens/s at the peak", f"{s.output_throughput_tok_s:,.0f} tok/s")]  # fmt: skip
        queued = s.ttft.p50_ms is not None and s.e2e.p50_ms and s.ttft.p50_ms > 0.5 * s.e2e.p50_ms
        sentence = "At the peak most of the latency is queueing." if queued else None
    search = result.steps.rate_search
    if search is not None and search.max_sustained_rps is not None:
        found.append(Headline("highest sustained request rate (open loop, within the SLOs)",
                              f"{search.max_sustained_rps:.3g} req/s"))  # fmt: skip
    if result.steps.knee_concurrency:
        found.append(Headline("throughput flattens at", f"c = {result.steps.knee_concurrency}"))
    top = max(result.steps.sweep or [], key=lambda row: row.concurrency, default=None)
    if top is not None and top.output_tok_s is not None:
        how = f"{top.waves:g} waves, {top.measured}" if top.waves else "one wave"
        found.append(Headline(f"sweep at c = {top.concurrency} ({how})", f"{top.output_tok_s:,.0f} tok/s"))
    return found, sentence


def _day8(result: Day8Result) -> tuple[list[Headline], str | None]:
    decision, cost = result.steps.decision, result.steps.cost
    found = []
    measured = result.steps.measured_verdict
    if measured is not None:
        tie = " (a tie)" if measured.tie else ""
        found.append(Headline("measured verdict", (measured.engine or "none yet") + tie))
    if decision is not None:
        then = f" (then {decision.runner_up})" if decision.runner_up else ""
        label = "the article's tree" if measured is not None else "recommended engine"
        found.append(Headline(label, f"{decision.engine}{then}"))
    if cost is not None and cost.usd_per_million_output_tokens is not None:
        at = (
            f"c={cost.concurrency}"
            if cost.concurrency is not None
            else f"{cost.sustained_rps or 0:.3g} req/s sustained"
        )
        found.append(Headline(f"cost at {at} ({cost.output_tok_s:,.0f} tok/s)",
                              f"${cost.usd_per_million_output_tokens:.3f} per million output tokens"))  # fmt: skip
    rule = decision.rule if decision is not None else None
    if measured is not None:
        return found, f"Measured: {measured.reason}." + (f" The article's tree: {rule}." if rule else "")
    return found, f"Because: {rule}." if rule else None


HEADLINES: dict[type[DayResult], Callable[..., tuple[list[Headline], str | None]]] = {
    Day1Result: _day1, Day2Result: _day2, Day3Result: _day3, Day4Result: _day4, Day6Result: _day6,
    Day7Result: _day7, Day8Result: _day8,
}  # fmt: skip


def summarize_day(result: DayResult) -> DaySummary:
    headlines, sentence = HEADLINES.get(type(result), lambda _: ([], None))(result)
    return DaySummary(
        verdict=result.status, headlines=headlines, conclusion=sentence,
        problems=[*result.failures, *result.partial],
        not_run=[f"{step}: {reason}" for step, reason in result.skipped.items()],
        checks=[(c.ok, c.message) for c in result.checks], sizing=sizing_lines(result),
    )  # fmt: skip


def day_box(folder: Path) -> str:
    """The summary box of the day whose ``metrics.json`` is in ``folder``, or one line saying why there is none
    (a day that never wrote its file, or wrote another schema)."""
    try:
        return summary_box(summarize_day(load_day_result(folder / "metrics.json")))
    except ResultSchemaError as exc:
        return f'<p class="playbook-summary">No summary: {html.escape(str(exc))}</p>'


def summary_box(summary: DaySummary) -> str:
    """The box as HTML (every text escaped), for the top of the report."""
    e = html.escape
    rows = "".join(f"<tr><th>{e(h.label)}</th><td>{e(h.value)}</td></tr>" for h in summary.headlines)
    status = VERDICTS.get(summary.verdict, summary.verdict)
    # What the day found leads; whether the run itself completed is a separate line ("ok" is not a finding:
    # a run can be ok and find that speculation never pays)
    parts = [f'<section class="playbook-summary {e(summary.verdict)}">']
    if summary.conclusion:
        parts.append(f'<p class="finding"><strong>Found:</strong> {e(summary.conclusion)}</p>')
    if rows:
        parts.append(f"<table>{rows}</table>")
    parts.append(f'<p class="verdict">Run: <strong>{e(status)}</strong></p>')
    for title, items in (("Problems", summary.problems), ("Sized to this machine", summary.sizing),
                         ("Not run here", summary.not_run)):  # fmt: skip
        if items:
            parts.append(f"<p>{title}:</p><ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>")
    if summary.checks:
        parts.append(checks_section(summary.checks))
    return "".join(parts) + "</section>" + STYLE


def checks_section(checks: list[tuple[bool, str]]) -> str:
    """Every check in a collapsed list, its count in the title; open when one failed."""
    failed = sum(not ok for ok, _ in checks)
    title = f"Checks: {len(checks) - failed} passed" + (f", {failed} failed" if failed else "")
    items = "".join(f'<li class="{"pass" if ok else "fail"}">{"PASS" if ok else "FAIL"}: {html.escape(m)}</li>'
                    for ok, m in checks)  # fmt: skip
    return f'<details class="checks"{" open" if failed else ""}><summary>{title}</summary><ul>{items}</ul></details>'


# A metrics.json still "running" after its notebook ended belongs to a notebook that stopped before its last cell.
VERDICTS = {"running": "did not finish (the notebook stopped before its last cell; what it measured is below)"}

STYLE = """<style>
.playbook-summary{border:2px solid #888;border-radius:6px;padding:.6em 1em;margin:1em auto;max-width:1000px;
  font-family:system-ui,sans-serif}
.playbook-summary.ok{border-color:#2e7d32}.playbook-summary.partial{border-color:#ef8f00}
.playbook-summary.failed,.playbook-summary.running,.playbook-summary.interrupted{border-color:#b3261e}
.playbook-summary th{text-align:left;padding-right:1.5em;font-weight:normal;color:#444}
.playbook-summary .verdict{font-size:1.2em;margin:.2em 0}
.playbook-summary .checks li.fail{color:#b3261e}.playbook-summary .checks summary{cursor:pointer}
.jp-RenderedHTMLCommon table{display:block;max-width:100%;overflow-x:auto}  /* wide tables scroll, never clip */
</style>"""
