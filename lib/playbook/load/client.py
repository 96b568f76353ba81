"""The request record every measurement produces, and the OpenAI SDK client.

Timed requests go through :mod:`playbook.load.loadgen` (one streaming parse for every
day). A failed request never raises: it is a :class:`RequestRecord` with
``success=False`` and the error, so a measurement loop keeps what it has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import openai

from playbook.serving.launcher import Server


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
    attempts: int = 1  # > 1: succeeded (or failed for good) after retries; latency counts from the first try

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


def make_client(server: Server, timeout_s: float = 600.0) -> openai.OpenAI:
    """The OpenAI SDK pointed at the server, with its key (the SDK needs a non-empty one even without auth)."""
    return openai.OpenAI(base_url=server.api_url, api_key=server.api_key or "EMPTY", max_retries=0, timeout=timeout_s)
