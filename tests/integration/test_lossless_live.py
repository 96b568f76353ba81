"""Day 2's parting score against the live vLLM CPU server: where a greedy output is made to differ from the server's
own greedy output, the server's scores must rank its greedy token first, at the right position."""

from __future__ import annotations

import pytest

from playbook.days import day2
from playbook.load.client import make_client
from playbook.load.greedy import server_greedy

pytestmark = pytest.mark.server


def test_the_greedy_token_outscores_a_replacement_at_the_parting(live_server, cpu_profile):
    model = cpu_profile.model.served_name
    prompt_ids, plain, _ = server_greedy(make_client(live_server), model, "List three primary colors.", 8)
    plain = list(plain)
    changed = [*plain[:3], (plain[3] + 1) % 49152, *plain[4:]]  # another token at position 3
    step = day2.dtype_step(cpu_profile.engine_spec.dtype, cpu_profile.days.day2.lossless_tie_logit_bound)
    parting = day2.parting(live_server.endpoint.with_model(model), "vllm", list(prompt_ids), plain, changed, step)
    assert parting["token"] == 3 and parting["plain_token"] == plain[3]
    assert parting["plain_logprob"] > parting["speculative_logprob"]  # greedy took the most likely token
    assert parting["tie"] is (parting["margin"] <= step)
    assert day2.parting(live_server.endpoint.with_model(model), "vllm", list(prompt_ids), plain, plain, step) is None
