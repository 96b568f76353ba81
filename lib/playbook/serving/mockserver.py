"""A tiny OpenAI-compatible streaming server with no model: fixed token rate.

Used to measure the load generator's own overhead (``benchmarks/client_overhead.py``)
and in fast tests of the client against real HTTP. Binds 127.0.0.1 only.

    python -m playbook.serving.mockserver --port 8099 --tokens-per-s 50 --ttft-ms 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time

from aiohttp import web

MODEL = "mock-model"


def _chunk(content: str | None, usage: dict | None = None) -> bytes:
    choices = [] if content is None else [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
    body = {"id": "mock", "object": "chat.completion.chunk", "created": int(time.time()), "model": MODEL,
            "choices": choices, "usage": usage}  # fmt: skip
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _text(content: str | list | None) -> str:
    """Message content is a string, or a list of parts ({"type": "text", "text": ...}) as vLLM's client sends."""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _error_event(message: str) -> bytes:
    """What vLLM streams when generation fails mid-answer: an ``error`` object instead of a chunk."""
    return (
        b"data: "
        + json.dumps({"error": {"message": message, "type": "InternalServerError", "code": 500}}).encode()
        + b"\n\n"
    )


def make_app(
    tokens_per_s: float, ttft_ms: float, stall_after: int | None = None, fail_first: int = 0,
    die_after: int | None = None, end_after: int | None = None, error_after: int | None = None,
    bodies: str | None = None, max_running: int | None = None,
) -> web.Application:  # fmt: skip
    """``stall_after``: stop sending (but keep the connection open) after that many tokens: a hung request.
    ``fail_first``: answer the first N chat requests with HTTP 503 (an overloaded or restarting server).
    ``die_after``: exit abruptly once N streamed answers are complete, cutting those in flight (a kill -9).
    ``end_after``: close each stream cleanly after N tokens, with no usage and no ``[DONE]`` (a truncated answer).
    ``error_after``: send an error event after N tokens, then ``[DONE]`` (generation failed mid-answer).
    ``bodies``: append every chat request's JSON body to this file, one a line (what a test checks was sent).
    ``max_running``: stream at most this many answers at once, the rest wait their turn (a server with a capacity:
    past it, requests queue and TTFT grows, as a rate sweep must see)."""
    gate = asyncio.Semaphore(max_running) if max_running else contextlib.nullcontext()
    refused = {"count": 0}
    completed = {"count": 0}

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="")

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    async def chat(request: web.Request) -> web.StreamResponse:
        if refused["count"] < fail_first:
            refused["count"] += 1
            return web.Response(status=503, text="mock: service unavailable")
        body = await request.json()
        if bodies:
            with open(bodies, "a") as sink:
                sink.write(json.dumps(body) + "\n")
        n = int(body.get("max_completion_tokens") or body.get("max_tokens") or 16)  # vLLM's client sends the former
        prompt_tokens = sum(len(_text(m.get("content")).split()) for m in body.get("messages", []))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}
        if not body.get("stream"):  # one JSON answer, as the OpenAI API gives without streaming
            await asyncio.sleep(ttft_ms / 1000 + (n - 1) / tokens_per_s)
            message = {"role": "assistant", "content": "".join(f" tok{i}" for i in range(n))}
            choice = {"index": 0, "message": message, "finish_reason": "length"}
            if body.get("return_prompt_token_ids"):  # as SGLang 0.5 answers: prompt ids only, in the choice
                choice["prompt_token_ids"] = list(range(prompt_tokens))
            return web.json_response(
                {"id": "mock", "object": "chat.completion", "model": MODEL, "usage": usage, "choices": [choice]}
            )
        async with gate:
            return await stream(request, n, usage)

    async def stream(request: web.Request, n: int, usage: dict) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await asyncio.sleep(ttft_ms / 1000)
        for i in range(n):
            if stall_after is not None and i == stall_after:
                await asyncio.sleep(3600)
            if i in (end_after, error_after):
                break
            if i:
                await asyncio.sleep(1 / tokens_per_s)
            await response.write(_chunk(f" tok{i}"))
        if end_after is not None and end_after < n:
            return response  # the stream just ends
        await response.write(
            _error_event("mock: generation failed") if error_after is not None else _chunk(None, usage)
        )
        await response.write(b"data: [DONE]\n\n")
        completed["count"] += 1
        if die_after is not None and completed["count"] >= die_after:
            asyncio.get_running_loop().call_soon(os._exit, 137)
        return response

    async def generate(request: web.Request) -> web.Response:
        """SGLang's native endpoint: token ids in, ``output_ids`` out (the mock's are 1000 + position)."""
        body = await request.json()
        n = int(body.get("sampling_params", {}).get("max_new_tokens", 16))
        ids = [1000 + i for i in range(n)]
        return web.json_response({"text": "".join(f" tok{i}" for i in range(n)), "output_ids": ids, "meta_info": {}})

    app = web.Application()
    app.add_routes([web.get("/health", health), web.get("/v1/models", models),
                    web.post("/v1/chat/completions", chat), web.post("/generate", generate)])  # fmt: skip
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--tokens-per-s", type=float, default=50.0)
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    parser.add_argument("--stall-after", type=int, default=None, help="hang every stream after N tokens")
    parser.add_argument("--fail-first", type=int, default=0, help="answer the first N chat requests with 503")
    parser.add_argument("--die-after", type=int, default=None, help="exit abruptly after N completed answers")
    parser.add_argument("--end-after", type=int, default=None, help="end every stream after N tokens, no [DONE]")
    parser.add_argument("--error-after", type=int, default=None, help="send an error event after N tokens")
    parser.add_argument("--bodies", default=None, help="append each chat request's JSON body to this file")
    parser.add_argument("--max-running", type=int, default=None, help="stream at most N answers at once")
    args = parser.parse_args()
    app = make_app(args.tokens_per_s, args.ttft_ms, args.stall_after, args.fail_first, args.die_after,
                   args.end_after, args.error_after, args.bodies, args.max_running)  # fmt: skip
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, backlog=4096)


if __name__ == "__main__":
    main()
