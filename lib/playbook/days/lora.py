"""Day 6: LoRA adapters made here (``peft``, on the CPU, cached by content hash), the checks
that refuse a bad adapter before a server starts, and the behaviour tests that prove routing.

Each adapter learns one behaviour a program can check: ``acme-tag`` starts every answer with
``[ACME]``, ``json-answer`` answers as ``{"answer": "..."}``. Sent to the adapter's name, the
answers should show it nearly always; sent to the base model, nearly never. That is how the
report shows that vLLM routes by the request's ``model`` field, and that the article's
``lora_name`` field is ignored.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from playbook.core.errors import PlaybookError
from playbook.core.profiles import EngineSpec
from playbook.serving.engines import get_engine
from playbook.serving.launcher import resolve_interpreter
from playbook.sizing.models import cache_root

Behaviour = Literal["tag", "json"]
TAG = "[ACME]"
MARKER = "playbook-adapter.json"


class LoraError(PlaybookError):
    """An adapter that cannot be served: missing, too large a rank, or made for another model."""


@dataclass(frozen=True)
class AdapterRecipe:
    name: str
    behaviour: Behaviour
    rank: int = 8
    steps: int = 40
    top_layers: int = 4  # LoRA on the last layers only: backward stops there, a step costs ~1/3 on two cores
    learning_rate: float = 4e-3
    examples: int = 48
    batch_size: int = 4
    seed: int = 0


RECIPES = {r.name: r for r in (AdapterRecipe("acme-tag", "tag"), AdapterRecipe("json-answer", "json", seed=1))}
QUESTIONS = ("What do you think about {}?", "Tell me something about {}.", "Why does {} matter?",
             "Describe {} in one sentence.", "Is {} useful?", "Give me a fact about {}.")  # fmt: skip


def training_pairs(recipe: AdapterRecipe) -> list[tuple[str, str]]:
    """(question, answer) pairs that show the behaviour: a question about a word, answered with that word in
    the adapter's shape (copying is learnable in a few CPU steps; the shape is what routing checks)."""
    from faker import Faker

    fake, rng = Faker("en_US"), random.Random(recipe.seed)
    Faker.seed(recipe.seed)
    pairs = []
    for _ in range(recipe.examples):
        topic = fake.word()
        question = rng.choice(QUESTIONS).format(topic)
        answer = f"{TAG} {topic}" if recipe.behaviour == "tag" else json.dumps({"answer": topic})
        pairs.append((question, answer))
    return pairs


def has_behaviour(behaviour: Behaviour, text: str) -> bool:
    text = text.strip()
    if behaviour == "tag":
        return text.startswith(TAG)
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and "answer" in data


def adapter_dir(base_model_dir: Path, recipe: AdapterRecipe) -> Path:
    """Cached by what makes the adapter: the base model's folder (itself content-hashed), the recipe, peft."""
    import peft

    key = json.dumps({"base": Path(base_model_dir).name, "recipe": asdict(recipe), "peft": peft.__version__},
                     sort_keys=True)  # fmt: skip
    return cache_root() / "adapters" / f"{recipe.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def train_adapter(base_model_dir: str | Path, recipe: AdapterRecipe) -> Path:
    """Train (once) and return the adapter folder; loss only on the answer tokens."""
    out = adapter_dir(Path(base_model_dir), recipe)
    if (out / MARKER).exists():
        return out
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(recipe.seed)
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    model = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=torch.float32)
    layers = model.config.num_hidden_layers
    config = LoraConfig(r=recipe.rank, lora_alpha=2 * recipe.rank, target_modules=["q_proj", "v_proj"],
                        layers_to_transform=list(range(layers - recipe.top_layers, layers)), lora_dropout=0.0,
                        task_type="CAUSAL_LM")  # fmt: skip
    model = get_peft_model(model, config)
    batches = _batches(tokenizer, training_pairs(recipe), batch_size=recipe.batch_size)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.learning_rate)
    model.train()
    started = time.perf_counter()
    losses = _train_top_layers(model.base_model.model, batches, layers - recipe.top_layers, recipe, optimizer)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    (out / MARKER).write_text(json.dumps({"recipe": asdict(recipe), "base_model_dir": str(base_model_dir),
                                          "first_loss": losses[0], "last_loss": losses[-1],
                                          "train_s": round(time.perf_counter() - started, 1)}, indent=1))  # fmt: skip
    return out


def _train_top_layers(causal_lm, batches, first: int, recipe: AdapterRecipe, optimizer) -> list[float]:
    """The training steps, on the layers that learn only. Why: LoRA sits in the top layers, so what the
    frozen layers below make of each batch never changes; it is computed once, and each step runs the top
    layers and scores the answer tokens alone (the same loss as ``labels=``: the mean over answer tokens).
    On 2 cores this took a 40-step adapter from 18.8 s to 7.8 s with bit-identical weights
    (benchmarks/results/cold-speedups-2026-12-05.txt)."""
    import torch

    trunk = causal_lm.model
    with torch.no_grad():
        frozen = [trunk(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[first]
                  for ids, _, mask in batches]  # fmt: skip
    every_layer, losses = trunk.layers, []
    trunk.layers = torch.nn.ModuleList(list(every_layer)[first:])
    try:
        for step in range(recipe.steps):
            _, labels, mask = batches[step % len(batches)]
            hidden = trunk(inputs_embeds=frozen[step % len(batches)], attention_mask=mask).last_hidden_state
            targets = labels[:, 1:]  # position t predicts token t + 1
            scored = targets != -100
            logits = causal_lm.lm_head(hidden[:, :-1][scored])
            loss = torch.nn.functional.cross_entropy(logits, targets[scored])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            print(f"{recipe.name}: step {step + 1}/{recipe.steps} loss {losses[-1]:.3f}", flush=True)
    finally:
        trunk.layers = every_layer
    return losses


def _batches(tokenizer, pairs: list[tuple[str, str]], batch_size: int):
    import torch

    rows = []
    for question, answer in pairs:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                               add_generation_prompt=True)  # fmt: skip
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        rows.append((prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids))
    batches = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        ids = torch.tensor([r + [pad] * (width - len(r)) for r, _ in chunk])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in chunk])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r, _ in chunk])
        batches.append((ids, labels, mask))
    return batches


def check_adapter(path: str | Path, base_model_dir: str | Path, max_lora_rank: int) -> int:
    """Refuse, before any server starts, what vLLM would refuse later or serve wrongly. Returns the rank."""
    folder = Path(path)
    config_path = folder / "adapter_config.json"
    if not config_path.exists():
        raise LoraError(f"adapter {folder}: no adapter_config.json (is the path right?)")
    config = json.loads(config_path.read_text())
    rank = int(config.get("r", 0))
    if rank > max_lora_rank:
        raise LoraError(f"adapter {folder.name}: rank {rank} exceeds --max-lora-rank {max_lora_rank}: "
                        f"raise max_lora_rank to {rank} or retrain at a lower rank")  # fmt: skip
    hidden = json.loads((Path(base_model_dir) / "config.json").read_text()).get("hidden_size")
    width = _adapter_input_width(folder)
    if hidden and width and width != hidden:
        made_for = config.get("base_model_name_or_path")
        raise LoraError(f"adapter {folder.name} was made for another base model ({made_for}: input width "
                        f"{width}, this model's hidden size is {hidden})")  # fmt: skip
    return rank


def check_serving_dtype(accelerator: str, engine: str, dtype: str) -> None:
    """Refuse, with the fix, a LoRA server the engine cannot start in ``dtype`` (its adapter knows which)."""
    problem = get_engine(engine).lora_dtype_problem(accelerator, dtype)
    if problem:
        raise LoraError(problem)


def _adapter_input_width(folder: Path) -> int | None:
    """The hidden size an adapter expects: the second dimension of a q_proj lora_A weight."""
    from safetensors import safe_open

    weights = folder / "adapter_model.safetensors"
    if not weights.exists():
        return None
    with safe_open(str(weights), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
            if "lora_A" in key and "q_proj" in key:
                return int(f.get_slice(key).get_shape()[1])
    return None


def lora_server_args(adapters: dict[str, Path], max_loras: int, max_lora_rank: int, engine: str) -> list[str]:
    """The engine's multi-LoRA flags (its adapter knows them): vLLM's ``--lora-modules name=path``, SGLang's
    ``--lora-paths name=path``."""
    return get_engine(engine).lora_args({n: str(p) for n, p in adapters.items()}, max_loras, max_lora_rank)


ARTICLE_LORA_FLAG = "--lora-modules=module_a=/path/to/lora_a,module_b=/path/to/lora_b"
REAL_LORA_FLAG = ["--lora-modules", "module_a=/path/to/lora_a", "module_b=/path/to/lora_b"]

# vLLM's own argument parser, without starting a server: its module moved between releases.


@dataclass(frozen=True)
class FlagVerdict:
    argv: list[str]
    accepted: bool
    said: str  # vLLM's parse of the adapters, or its error line


def flags_parser_missing(engine: str) -> str | None:
    """Why ``engine``'s parse of the article's ``--lora-modules`` flags cannot be shown; None where it can."""
    if get_engine(engine).lora_flags_parser is None:
        return f"the article's --lora-modules flags are vLLM's; the playbook has no parser of {engine}'s LoRA flags"
    return None


def parse_lora_flags(engine: str, spec: EngineSpec, flag_sets: list[list[str]]) -> list[FlagVerdict]:
    """What the engine's own parser makes of each set of ``--lora-modules`` flags, run in its interpreter (one
    import of the engine for all sets; starts nothing). Shows, rather than tells, that the article's comma form
    is refused."""
    python = resolve_interpreter(engine, spec)
    code = get_engine(engine).lora_flags_parser or ""
    done = subprocess.run([python, "-c", code, json.dumps(flag_sets)], capture_output=True, text=True, timeout=120)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or len(lines) != len(flag_sets):
        tail = (done.stderr.strip().splitlines() or [""])[-1]
        raise LoraError(f"{engine}'s argument parser did not run ({tail}): check engines.{engine}.python")
    return [FlagVerdict(flags, **json.loads(line)) for flags, line in zip(flag_sets, lines, strict=True)]
