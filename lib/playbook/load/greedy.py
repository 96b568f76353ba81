"""Greedy decoding through a server, token ids in and out, and how far two decodes agree.

Day 1 checks the engine against transformers with it, Day 2 checks speculation is
lossless, Day 4 checks quantization: one helper below the days, so no day imports another.
"""

from __future__ import annotations

import openai

from playbook.core.errors import EngineFeatureMissing


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
    """Prompt token ids (after the server's chat template) and greedy completion ids."""
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0,
        extra_body={"return_token_ids": True},
    )
    extra = reply.model_extra or {}
    choice_extra = reply.choices[0].model_extra or {}
    prompt_ids, token_ids = extra.get("prompt_token_ids"), choice_extra.get("token_ids")
    if prompt_ids is None or token_ids is None:
        raise EngineFeatureMissing("the server did not return token ids (needs vLLM >= 0.10 with return_token_ids)")
    return list(prompt_ids), list(token_ids), reply.choices[0].message.content or ""
