"""Sending requests to an OpenAI-compatible server and timing them.

The streaming parse is written once, here, and every day measures through it. A
failed request never raises: it comes back as a :class:`RequestRecord` with
``success=False`` and the error, so a measurement loop keeps what it has.
Token counts come from the server's ``usage`` (``stream_options.include_usage``),
not from a client-side guess.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import openai

from playbook.engines import Server


@dataclass
class RequestRecord:
    """One request's timing, filled in while its stream arrives."""

    request_id: int
    start_unix_s: float
    scheduled_unix_s: float | None = None
    ttft_ms: float | None = None
    itl_ms: list[float] = field(default_factory=list)
    e2e_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    success: bool = False
    status_code: int | None = None
    error_kind: str | None = None
    error: str | None = None
    output_text: str = ""

    @property
    def tpot_ms(self) -> float | None:
        """Time per output token after the first: (E2E - TTFT) / (tokens - 1)."""
        if not self.success or self.ttft_ms is None or self.e2e_ms is None:
            return None
        if not self.completion_tokens or self.completion_tokens < 2:
            return None
        return (self.e2e_ms - self.ttft_ms) / (self.completion_tokens - 1)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tpot_ms"] = self.tpot_ms
        return data


def make_async_client(server: Server, api_key: str | None = None, timeout_s: float = 600.0) -> openai.AsyncOpenAI:
    """An SDK client with no silent retries (they would hide failures in the numbers)
    and a connection pool large enough for high concurrency."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    http = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(timeout_s, connect=30.0))
    return openai.AsyncOpenAI(base_url=server.api_url, api_key=api_key or "EMPTY", max_retries=0, http_client=http)


def make_client(server: Server, api_key: str | None = None, timeout_s: float = 600.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.api_url, api_key=api_key or "EMPTY", max_retries=0, timeout=timeout_s)


def _classify(exc: BaseException) -> tuple[str, int | None]:
    if isinstance(exc, openai.APIStatusError):
        return f"http_{exc.status_code}", exc.status_code
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", None
    if isinstance(exc, openai.APIConnectionError):
        return "connection", None
    return type(exc).__name__, None


async def stream_chat(
    client: openai.AsyncOpenAI,
    model: str,
    messages: list[dict[str, str]],
    max_tokens: int,
    request_id: int = 0,
    temperature: float = 0.0,
    extra_body: dict[str, Any] | None = None,
    scheduled_unix_s: float | None = None,
) -> RequestRecord:
    """Stream one chat completion and time every content chunk."""
    record = RequestRecord(request_id=request_id, start_unix_s=time.time(), scheduled_unix_s=scheduled_unix_s)
    start = time.perf_counter()
    last = None
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=True,
            stream_options={"include_usage": True},
            extra_body=extra_body,
        )
        async for chunk in stream:
            now = time.perf_counter()
            if chunk.usage is not None:
                record.prompt_tokens = chunk.usage.prompt_tokens
                record.completion_tokens = chunk.usage.completion_tokens
            if not chunk.choices or not chunk.choices[0].delta.content:
                continue
            if last is None:
                record.ttft_ms = (now - start) * 1000
            else:
                record.itl_ms.append((now - last) * 1000)
            last = now
            record.output_text += chunk.choices[0].delta.content
        record.e2e_ms = (time.perf_counter() - start) * 1000
        record.success = True
        record.status_code = 200
    except Exception as exc:  # a failed request is data, not a crash
        record.e2e_ms = (time.perf_counter() - start) * 1000
        record.error_kind, record.status_code = _classify(exc)
        record.error = f"{type(exc).__name__}: {exc}"[:2000]
    return record
