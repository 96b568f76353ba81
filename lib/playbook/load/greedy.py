"""Greedy decoding through a server, token ids in and out, and how far two decodes agree.

Day 1 checks the engine against transformers with it, Day 2 checks speculation is
lossless, Day 4 checks quantization: one helper below the days, so no day imports another. Scoring
given tokens (each one's log-probability after the ones before it) is here too: Day 4's perplexity,
and Day 2's look at the token where two greedy outputs part.
"""

from __future__ import annotations

import httpx
import openai

from playbook.core.errors import EngineFeatureMissing
from playbook.serving.endpoint import Endpoint, auth_headers
from playbook.serving.engines import get_engine


def prefix_agreement(a: list[int], b: list[int]) -> tuple[int, float]:
    """Length of the common prefix and its share of the longer sequence.

    Greedy decoding diverges for good after the first different token, so the
    common prefix is the honest measure (a positional match would count noise).
    """
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    longest = max(len(a), len(b))
    return common, (common / longest if longest else 1.0)


def server_greedy(client: openai.OpenAI, model: str, prompt: str, max_tokens: int) -> tuple[list[int], list[int], str]:
    """Prompt token ids (after the server's chat template) and greedy completion ids.

    vLLM returns both from the chat endpoint (``return_token_ids``). SGLang 0.5 returns only the prompt's
    (``return_prompt_token_ids``, in the choice); its completion ids come from its native ``/generate`` on those
    very prompt ids, greedy as well, so both engines are compared with the reference on the same tokens."""
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0,
        extra_body={"return_token_ids": True, "return_prompt_token_ids": True},
    )
    extra, choice_extra = reply.model_extra or {}, reply.choices[0].model_extra or {}
    prompt_ids = extra.get("prompt_token_ids") or choice_extra.get("prompt_token_ids")
    token_ids, text = choice_extra.get("token_ids"), reply.choices[0].message.content or ""
    if prompt_ids is not None and token_ids is None:
        token_ids, text = _native_generate(client, list(prompt_ids), max_tokens)
    if prompt_ids is None or token_ids is None:
        raise EngineFeatureMissing("the server returned no token ids (vLLM >= 0.10: return_token_ids; SGLang 0.5: "
                                   "return_prompt_token_ids and /generate)")  # fmt: skip
    return list(prompt_ids), list(token_ids), text


def _native_generate(client: openai.OpenAI, prompt_ids: list[int], max_tokens: int) -> tuple[list[int] | None, str]:
    """SGLang's ``/generate`` (beside ``/v1``): greedy ids for ``prompt_ids``; ``(None, "")`` where it is missing."""
    root = str(client.base_url).rstrip("/").removesuffix("/v1")
    body = {"input_ids": prompt_ids, "sampling_params": {"temperature": 0, "max_new_tokens": max_tokens}}
    response = httpx.post(root + "/generate", json=body, headers=auth_headers(client.api_key), timeout=300)
    if response.status_code != 200:
        return None, ""
    data = response.json()
    return data.get("output_ids"), data.get("text", "")


def prompt_token_logprobs(endpoint: Endpoint, engine: str, token_ids: list[int]) -> list[float]:
    """Log-probability of each prompt token given the ones before it (the first has none), in the engine's own
    dialect (``EngineAdapter.prompt_scoring_request``: vLLM's ``prompt_logprobs``, SGLang's ``/generate``)."""
    adapter = get_engine(engine)
    path, body = adapter.prompt_scoring_request(endpoint.model, token_ids)
    reply = httpx.post(endpoint.base_url + path, json=body, headers=endpoint.headers, timeout=300)
    reply.raise_for_status()
    scores = adapter.prompt_scores(reply.json(), token_ids)
    if scores is None:
        raise EngineFeatureMissing(f"the {engine} server returned no prompt log-probabilities ({path})")
    return scores
