"""The load generator every day measures with.

* Closed loop (a fixed number in flight) or open loop (Poisson or constant arrivals,
  with a concurrency cap). In open loop each request also carries its *scheduled*
  send time, so a wait behind the client's own cap shows up in the latency instead
  of being hidden (coordinated omission).
* Streaming over aiohttp with a large read buffer; the SSE parse is written once.
  Token counts come from the server's ``usage`` (``include_usage``).
* Every finished request is appended to ``requests.jsonl`` at once, so a server that
  dies mid-run loses nothing already measured; the run is then marked ``partial``.
* While the load runs, the server's Prometheus ``/metrics`` is scraped every second
  into ``server_metrics.jsonl`` (KV usage, running/waiting, preemptions, prefix hits).
* Bad input (concurrency < 1, unreachable endpoint, wrong model name) fails before any
  load is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import math
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, model_validator
from tqdm import tqdm

from playbook.core.errors import PlaybookError
from playbook.core.fileio import utc_now, write_json_atomic
from playbook.load.client import RequestRecord
from playbook.load.datasets import SampleRequest
from playbook.load.export import write_csvs
from playbook.load.metrics import Distribution, LatencySummary, summarize
from playbook.serving.endpoint import Endpoint
from playbook.serving.engines import scraped_metrics

ABORT_AFTER_CONNECTION_ERRORS = 20
LoadStatus = Literal["ok", "partial"]


class LoadConfig(BaseModel):
    """One load run. Validated before anything is sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["closed", "open"] = Field(
        "closed", description="Closed: a fixed number in flight. Open: arrivals at a rate."
    )
    concurrency: int = Field(ge=1, description="Closed loop: requests in flight. Open loop: the cap.")
    request_rate: float | None = Field(None, gt=0, description="Open loop: mean requests per second.")
    arrival: Literal["poisson", "constant", "trace"] = Field(
        "poisson", description="Open loop: gaps between arrivals (trace: each request's own time, a trace: dataset)."
    )
    trace_speed: float = Field(1.0, gt=0, description="arrival trace: replay speed (2: twice as fast).")
    burstiness: float = Field(
        1.0,
        gt=0,
        description="arrival poisson: gamma shape of the gaps (1: Poisson; below 1 burstier).",
    )
    warmup_requests: int = Field(
        0,
        ge=0,
        description="Requests sent and discarded before measuring (prompts of "
        "their own: never one the measurement sends, which would then be a cache hit).",
    )
    ramp_s: float | None = Field(
        None,
        ge=0,
        description="A ramp at the start. Closed loop: the first `concurrency` requests start spread "
        "evenly over this many seconds instead of all at once, so the loop reaches a steady state instead of "
        "marching in synchronized waves. Open loop: the arrival rate rises linearly from 0 to request_rate over "
        "this many seconds, and the requests scheduled on the ramp are kept in the records but left out of the "
        "summary and goodput.",
    )
    max_duration_s: float | None = Field(None, gt=0, description="Stop sending after this long; in-flight finish.")
    request_timeout_s: float = Field(600, gt=0, description="A request still streaming after this fails as a timeout.")
    ignore_eos: bool = Field(True, description="vLLM/SGLang extension: generate exactly max_tokens.")
    scrape_interval_s: float | None = Field(1.0, gt=0, description="Seconds between /metrics scrapes.")
    max_retries: int = Field(
        0,
        ge=0,
        le=10,
        description="Retries of a request refused before its first token "
        "(connection error, HTTP 429/502/503/504). 0 measures the server as it is.",
    )
    retry_backoff_s: float = Field(0.5, gt=0, description="Backoff base: try k waits uniform(0, base x 2^k).")
    slo_ttft_ms: float | None = Field(None, gt=0, description="Goodput: a request counts only under this TTFT.")
    slo_tpot_ms: float | None = Field(None, gt=0, description="Goodput: a request counts only under this TPOT.")
    seed: int = Field(0, description="Seed of the request order and of open-loop arrivals.")

    @model_validator(mode="after")
    def _open_needs_rate(self) -> LoadConfig:
        if self.mode == "open" and self.request_rate is None and self.arrival != "trace":
            raise ValueError("mode='open' needs request_rate (requests per second)")
        return self


@dataclass(frozen=True)
class LoadResult:
    config: dict[str, Any]
    status: LoadStatus  # partial: the run stopped early (server gone, duration cap); what was measured is kept
    error: str | None
    started_utc: str
    summary: LatencySummary
    e2e_from_schedule: Distribution
    goodput_share: float | None
    requests_path: str
    server_metrics_path: str | None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


class EndpointUnreachable(PlaybookError):
    """No server answers at the base URL: a wrong address, or a server that has died."""


async def check_endpoint(session: aiohttp.ClientSession, endpoint: Endpoint) -> None:
    """Unreachable endpoint or unknown model: a clear error before any load."""
    url = endpoint.api_url + "/models"
    try:
        async with session.get(url, headers=endpoint.headers, timeout=aiohttp.ClientTimeout(total=15)) as response:
            if response.status != 200:
                raise PlaybookError(f"{url} answered HTTP {response.status}: {(await response.text())[:300]}")
            models = [m["id"] for m in (await response.json()).get("data", [])]
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise EndpointUnreachable(f"endpoint {endpoint.base_url} is unreachable ({why})") from None
    if endpoint.model not in models:
        raise PlaybookError(f"model {endpoint.model!r} is not served at {endpoint.base_url}; it serves {models}")


async def send_one(
    session: aiohttp.ClientSession,
    endpoint: Endpoint,
    config: LoadConfig,
    sample: SampleRequest,
    request_id: int,
    scheduled: float | None = None,
) -> RequestRecord:
    """Stream one chat completion; failures come back as records, never exceptions."""
    body = {"model": endpoint.model, "messages": sample.messages, "max_tokens": sample.max_tokens, "temperature": 0.0,
            "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
    if config.ignore_eos:
        body["ignore_eos"] = True
    body.update(sample.extra_body or {})
    record = RequestRecord(request_id=request_id, start_unix_s=time.time(), scheduled_unix_s=scheduled)
    start = time.perf_counter()
    last, done, usage_seen, stream_error = None, False, False, None
    try:
        url = endpoint.api_url + "/chat/completions"
        async with session.post(url, json=body, headers=endpoint.headers) as response:
            record.status_code = response.status
            if response.status != 200:
                record.error_kind, record.error = f"http_{response.status}", (await response.text())[:2000]
                return record
            async for raw in response.content:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    done = True
                    break
                now = time.perf_counter()
                chunk = json.loads(payload)
                stream_error = stream_error or error_event(chunk)
                if chunk.get("usage"):
                    usage_seen = True
                    record.prompt_tokens = chunk["usage"].get("prompt_tokens")
                    record.completion_tokens = chunk["usage"].get("completion_tokens")
                choices = chunk.get("choices") or []
                text = choices[0].get("delta", {}).get("content") if choices else None
                if text:
                    if last is None:
                        record.ttft_ms = (now - start) * 1000
                    else:
                        record.itl_ms.append((now - last) * 1000)
                    last = now
                    record.output_text += text
        record.error_kind, record.error = stream_verdict(record, done, usage_seen, stream_error)
        record.success = record.error_kind is None
    except asyncio.TimeoutError:
        record.error_kind, record.error = "timeout", f"no answer within {config.request_timeout_s} s"
    except aiohttp.ClientError as exc:
        record.error_kind, record.error = "connection", f"{type(exc).__name__}: {exc}"[:2000]
    except Exception as exc:  # keep the run going; the record says what happened
        record.error_kind, record.error = type(exc).__name__, str(exc)[:2000]
    finally:
        record.e2e_ms = (time.perf_counter() - start) * 1000
    return record


def error_event(chunk: dict[str, Any]) -> str | None:
    """The message of an error event in a stream (vLLM: ``{"error": {...}}``; older: ``{"object": "error"}``)."""
    if isinstance(chunk.get("error"), dict):
        return str(chunk["error"].get("message") or chunk["error"])
    if chunk.get("object") == "error":
        return str(chunk.get("message") or chunk)
    return None


def stream_verdict(
    record: RequestRecord, done: bool, usage_seen: bool, stream_error: str | None
) -> tuple[str | None, str | None]:
    """A stream succeeded only if it ended as the protocol says: content, the usage asked for, ``[DONE]``,
    and no error event. Anything else is a failed record with its kind (the tokens it carried stay in it)."""
    if stream_error:
        return "stream_error", stream_error[:2000]
    if record.ttft_ms is None:
        return "empty_stream", "the stream ended without any content"
    if not done:
        return "truncated", "the stream ended without [DONE]"
    if not usage_seen:
        return "no_usage", "the stream asked for usage (stream_options.include_usage) and carried none"
    return None, None


RETRYABLE = {"connection", "http_429", "http_502", "http_503", "http_504"}


def is_retryable(record: RequestRecord) -> bool:
    """Only what failed before any token arrived: a retry never duplicates streamed output."""
    return not record.success and record.ttft_ms is None and record.error_kind in RETRYABLE


async def send_with_retries(
    session: aiohttp.ClientSession, endpoint: Endpoint, config: LoadConfig, sample: SampleRequest, request_id: int,
    scheduled: float | None, rng: random.Random,
) -> RequestRecord:  # fmt: skip
    """``send_one`` with bounded retries and full jitter; timings are what the caller saw, from the first try."""
    first_wall, first = time.time(), time.perf_counter()
    attempt = 0
    while True:
        offset_ms = (time.perf_counter() - first) * 1000
        record = await send_one(session, endpoint, config, sample, request_id, scheduled)
        if attempt >= config.max_retries or not is_retryable(record):
            break
        await asyncio.sleep(rng.uniform(0, config.retry_backoff_s * 2**attempt))
        attempt += 1
    if attempt:
        record.start_unix_s = first_wall
        record.ttft_ms = None if record.ttft_ms is None else record.ttft_ms + offset_ms
        record.e2e_ms = (record.e2e_ms or 0) + offset_ms
    record.attempts = attempt + 1
    return record


async def scrape_metrics(
    session: aiohttp.ClientSession, base_url: str, path: Path, interval_s: float, stop: asyncio.Event
) -> None:
    """Append one JSON line of selected server gauges/counters per interval."""
    from prometheus_client.parser import text_string_to_metric_families

    url = base_url.rstrip("/") + "/metrics"
    scraped = scraped_metrics()  # every registered engine's series: the endpoint's engine is not known here
    with path.open("a") as out:
        while not stop.is_set():
            row: dict[str, Any] = {"t_unix_s": time.time()}
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
                    text = await response.text()
                for family in text_string_to_metric_families(text):
                    for sample in family.samples:
                        key = scraped.get(sample.name)
                        if key:
                            row[key] = row.get(key, 0.0) + sample.value
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                row["error"] = type(exc).__name__
            out.write(json.dumps(row) + "\n")
            out.flush()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)


def arrival_offsets(n: int, rate: float, arrival: str, seed: int, burstiness: float = 1.0) -> list[float]:
    """Send times (seconds from start) for an open loop, seeded. Poisson gaps are gamma-distributed with shape
    ``burstiness`` and the same mean 1/rate (shape 1 is the exponential; as ``vllm bench serve --burstiness``).

    The random gaps are then scaled so that the last send is at (n − 1)/rate, as ``vllm bench serve`` scales its
    own: unscaled, 64 arrivals at 1 request/s spanned 73.5 s with seed 0 (an offered 0.86 req/s), so a short run
    measured its draw rather than the rate asked for. The gaps keep their randomness and their order."""
    if arrival == "constant" or n < 2:
        return [i / rate for i in range(n)]
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        out.append(t)
        t += rng.expovariate(rate) if burstiness == 1.0 else rng.gammavariate(burstiness, 1 / (rate * burstiness))
    scale = (n - 1) / rate / out[-1]
    return [offset * scale for offset in out]


def trace_offsets(samples: list[SampleRequest], speed: float) -> list[float]:
    """Send times of a trace's requests (``load.trace``), from its first, ``speed`` times as fast."""
    if any(s.arrival_s is None for s in samples):
        raise PlaybookError("arrival 'trace' replays a trace's times: use --dataset trace:PATH (or another arrival)")
    first = min(s.arrival_s for s in samples)  # type: ignore[type-var]
    return [(s.arrival_s - first) / speed for s in samples]  # type: ignore[operator]


def open_offsets(samples: list[SampleRequest], config: LoadConfig) -> list[float]:
    """An open loop's send times: the trace's, or the seeded arrival process's, on the ramp where there is one."""
    if config.arrival == "trace":
        offsets = trace_offsets(samples, config.trace_speed)
    else:
        offsets = arrival_offsets(len(samples), config.request_rate, config.arrival, config.seed, config.burstiness)
    return ramped(offsets, config.ramp_s) if config.ramp_s else offsets


def ramped(offsets: list[float], ramp_s: float) -> list[float]:
    """The same arrivals with the rate rising linearly from 0 to full over ``ramp_s``, by a change of clock: the
    arrivals expected by time t are R·t²/(2·ramp_s) on the ramp and R·(t − ramp_s/2) after it, so an arrival at
    ``s`` on the steady clock moves to √(2·ramp_s·s), or to s + ramp_s/2. The order and the gaps' randomness stay;
    a cold server is not met at full rate."""
    half = ramp_s / 2
    return [math.sqrt(2 * ramp_s * s) if s < half else s + half for s in offsets]


def after_ramp(records: list[RequestRecord], ramp_s: float | None) -> list[RequestRecord]:
    """An open loop's requests scheduled after its ramp: what its summary and goodput describe. The first
    arrival is at the ramp's start (offset 0), so the ramp ends ``ramp_s`` after the earliest scheduled time."""
    scheduled = [r.scheduled_unix_s for r in records if r.scheduled_unix_s is not None]
    if not ramp_s or not scheduled:
        return records
    end = min(scheduled) + ramp_s
    return [r for r in records if r.scheduled_unix_s is not None and r.scheduled_unix_s >= end]


class _Progress:
    def __init__(self, total: int, desc: str):
        self.bar = tqdm(total=total, desc=desc, unit="req", mininterval=1.0)
        self.in_flight = self.errors = 0
        self.connection_errors = 0

    def started(self) -> None:
        self.in_flight += 1

    def finished(self, record: RequestRecord) -> None:
        self.in_flight -= 1
        if not record.success:
            self.errors += 1
            self.connection_errors += record.error_kind == "connection"
        self.bar.set_postfix(in_flight=self.in_flight, errors=self.errors, refresh=False)
        self.bar.update(1)


async def _run(
    endpoint: Endpoint, config: LoadConfig, samples: list[SampleRequest], out_dir: Path, desc: str
) -> LoadResult:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=config.request_timeout_s)
    requests_path = out_dir / "requests.jsonl"
    metrics_path = out_dir / "server_metrics.jsonl" if config.scrape_interval_s else None
    records: list[RequestRecord] = []
    error: str | None = None
    started_utc = utc_now()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, read_bufsize=1 << 20) as session:
        await check_endpoint(session, endpoint)
        if config.warmup_requests:
            warm = [send_one(session, endpoint, config, warmup_sample(samples[i % len(samples)], i), -1 - i)
                    for i in range(config.warmup_requests)]  # fmt: skip
            await asyncio.gather(*warm)
        stop = asyncio.Event()
        scraper = None
        if metrics_path is not None:
            scraper = asyncio.create_task(
                scrape_metrics(session, endpoint.base_url, metrics_path, config.scrape_interval_s, stop)
            )
        progress = _Progress(len(samples), desc)
        gate = asyncio.Semaphore(config.concurrency)
        retry_rng = random.Random(config.seed)
        deadline = time.monotonic() + config.max_duration_s if config.max_duration_s else None
        abort = asyncio.Event()
        with requests_path.open("a") as sink:

            async def one(index: int, scheduled: float | None) -> None:
                async with gate:
                    if config.ramp_s and config.mode == "closed" and index < config.concurrency:
                        await asyncio.sleep(index * config.ramp_s / config.concurrency)  # the slot is held meanwhile
                    if abort.is_set() or (deadline and time.monotonic() > deadline):
                        return
                    progress.started()
                    record = await send_with_retries(session, endpoint, config, samples[index], index, scheduled,
                                                     retry_rng)  # fmt: skip
                records.append(record)
                sink.write(json.dumps(record.to_dict()) + "\n")
                sink.flush()
                progress.finished(record)
                if progress.connection_errors >= ABORT_AFTER_CONNECTION_ERRORS:
                    abort.set()

            if config.mode == "closed":
                await asyncio.gather(*(one(i, None) for i in range(len(samples))))
            else:
                offsets = open_offsets(samples, config)
                origin = time.time()
                tasks = []
                for i, offset in enumerate(offsets):
                    await asyncio.sleep(max(0.0, origin + offset - time.time()))
                    if abort.is_set():
                        break
                    tasks.append(asyncio.create_task(one(i, origin + offset)))
                await asyncio.gather(*tasks)
        progress.bar.close()
        stop.set()
        if scraper is not None:
            await scraper
    if abort.is_set():
        error = f"aborted after {progress.connection_errors} connection errors: the server is unreachable"
    elif any(not r.success for r in records):
        kinds = sorted({r.error_kind for r in records if not r.success})
        error = f"{sum(not r.success for r in records)} of {len(records)} requests failed ({', '.join(kinds)})"
    if len(records) < len(samples) and error is None:
        error = f"stopped by max_duration_s after {len(records)} of {len(samples)} requests"
    measured = after_ramp(records, config.ramp_s) if config.mode == "open" else records
    summary = summarize(measured)
    status: LoadStatus = "ok" if error is None else "partial"
    write_csvs(out_dir, records, summary, status)  # from the records in hand, not read back from the JSONL
    return LoadResult(
        config={"base_url": endpoint.base_url, "model": endpoint.model, **config.model_dump()},
        status=status,
        error=error,
        started_utc=started_utc,
        summary=summary,
        e2e_from_schedule=Distribution.of(_from_schedule(r) for r in records if r.success),
        goodput_share=goodput(measured, config.slo_ttft_ms, config.slo_tpot_ms),
        requests_path=str(requests_path),
        server_metrics_path=str(metrics_path) if metrics_path else None,
    )


def _from_schedule(record: RequestRecord) -> float | None:
    if record.scheduled_unix_s is None or record.e2e_ms is None:
        return record.e2e_ms
    return record.e2e_ms + (record.start_unix_s - record.scheduled_unix_s) * 1000


def warmup_sample(sample: SampleRequest, index: int) -> SampleRequest:
    """A warm-up request shaped like ``sample`` (same lengths, same structure) whose text differs from its first
    token on: ``Warm-up N:`` before the last message's text. The measured requests then meet no prompt the
    warm-up put in the prefix cache; only what every request shares (the chat template, a declared shared
    prefix) is warm, as it would be on a server in production."""
    last = {**sample.messages[-1], "content": f"Warm-up {index + 1}: {sample.messages[-1]['content']}"}
    return replace(sample, messages=[*sample.messages[:-1], last])


def goodput(records: list[RequestRecord], slo_ttft_ms: float | None, slo_tpot_ms: float | None) -> float | None:
    """Share of all requests that succeeded *and* met every SLO that is set."""
    if not records or (slo_ttft_ms is None and slo_tpot_ms is None):
        return None
    good = 0
    for r in records:
        ok = r.success and (slo_ttft_ms is None or (r.ttft_ms or 0) <= slo_ttft_ms)
        ok = ok and (slo_tpot_ms is None or r.tpot_ms is None or r.tpot_ms <= slo_tpot_ms)
        good += ok
    return good / len(records)


def run_load(
    endpoint: Endpoint,
    config: LoadConfig,
    samples: list[SampleRequest],
    out_dir: str | Path,
    desc: str = "load",
) -> LoadResult:
    """Run one load test against ``endpoint`` (where, which model, which key: resolved once, by whoever made it);
    writes requests.jsonl, server_metrics.jsonl and summary.json in out_dir, and the same as requests.csv and
    summary.csv for a spreadsheet. ``summary.json``'s ``config`` keeps
    the endpoint's URL and model beside the load's settings (never the key)."""
    from playbook.core.aio import run

    if not samples:
        raise PlaybookError("no requests to send (the dataset produced none)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_aside_earlier_run(out)
    result = run(_run(endpoint, config, samples, out, desc))
    write_json_atomic(out / "summary.json", result)
    return result


RUN_FILES = ("requests.jsonl", "server_metrics.jsonl", "summary.json", "requests.csv", "summary.csv")


def set_aside_earlier_run(out: Path) -> Path | None:
    """A folder that already holds a run's files (a notebook cell run twice, a reused ``--out``): move them into
    ``earlier-<time>/`` beside, so the new run never appends to the old records and nothing measured is lost."""
    found = [out / name for name in RUN_FILES if (out / name).exists()]
    if not found:
        return None
    aside = out / f"earlier-{utc_now().replace(':', '')}"
    aside.mkdir(exist_ok=True)
    for path in found:
        path.rename(aside / path.name)
    print(f"{out} held an earlier run's records: moved to {aside}")
    return aside


def read_records(path: str | Path) -> list[RequestRecord]:
    """Records back from a JSONL file, gzipped if its name ends in .gz (a truncated last line is ignored)."""
    path = Path(path)
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    records = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        data.pop("tpot_ms", None)
        records.append(RequestRecord(**data))
    return records
