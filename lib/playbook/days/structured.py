"""Day 3 structured output: extraction tasks with known answers, the constraint each engine
takes, and scoring.

Tasks are generated with ``faker`` (seeded): a short paragraph about a person, a company or
an order, and the JSON the model should extract from it; plus a choice task (an order's
status, one of four words) and a regex task (a date in ISO form). Because the generator
knows the answer, accuracy is measured, not eyeballed.

Constraints: JSON goes through the OpenAI-standard ``response_format`` (``json_schema``),
which vLLM and SGLang both accept. Choice and regex are engine extensions: vLLM takes
``structured_outputs: {"choice": [...]}`` / ``{"regex": ...}``; SGLang takes ``regex`` (a
choice is a regex alternation there).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema
from faker import Faker

from playbook.load.datasets import SampleRequest
from playbook.serving.engines import get_engine

TaskKind = Literal["person", "company", "order", "choice", "regex"]
STATUSES = ["pending", "shipped", "delivered", "cancelled"]
ISO_DATE = r"\d{4}-\d{2}-\d{2}"
SCHEMAS: dict[str, dict[str, Any]] = {
    "person": {"type": "object", "additionalProperties": False, "required": ["name", "age", "city"],
               "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"}}},
    "company": {"type": "object", "additionalProperties": False, "required": ["company", "founded", "employees"],
                "properties": {"company": {"type": "string"}, "founded": {"type": "integer"},
                               "employees": {"type": "integer"}}},
    "order": {"type": "object", "additionalProperties": False, "required": ["order_id", "quantity", "product"],
              "properties": {"order_id": {"type": "string"}, "quantity": {"type": "integer"},
                             "product": {"type": "string"}}},
}  # fmt: skip


@dataclass(frozen=True)
class Task:
    task_id: int
    kind: TaskKind
    text: str
    truth: Any  # dict for JSON kinds, str for choice and regex
    instruction: str

    @property
    def schema(self) -> dict[str, Any] | None:
        return SCHEMAS.get(self.kind)


def _person(fake: Faker, rng: random.Random) -> tuple[str, dict[str, Any]]:
    truth = {"name": fake.name(), "age": rng.randint(21, 79), "city": fake.city()}
    text = (f"{truth['name']} is {truth['age']} years old and lives in {truth['city']}. "
            f"They work as a {fake.job().lower()} and like {fake.word()}.")  # fmt: skip
    return text, truth


def _company(fake: Faker, rng: random.Random) -> tuple[str, dict[str, Any]]:
    truth = {"company": fake.company(), "founded": rng.randint(1950, 2024), "employees": rng.randint(5, 5000)}
    text = (f"{truth['company']} was founded in {truth['founded']} and today employs {truth['employees']} people "
            f"in {fake.country()}.")  # fmt: skip
    return text, truth


def _order(fake: Faker, rng: random.Random) -> tuple[str, dict[str, Any]]:
    product = rng.choice(["laptop", "desk lamp", "coffee grinder", "bicycle helmet", "keyboard", "backpack"])
    truth = {"order_id": f"ORD-{rng.randint(10000, 99999)}", "quantity": rng.randint(1, 12), "product": product}
    text = (f"Order {truth['order_id']} from {fake.name()}: {truth['quantity']} x {product}, "
            f"to be sent to {fake.city()}.")  # fmt: skip
    return text, truth


def make_tasks(per_kind: int, seed: int) -> list[Task]:
    """``per_kind`` tasks of each kind, deterministic for a seed."""
    fake, rng = Faker("en_US"), random.Random(seed)
    Faker.seed(seed)
    tasks: list[Task] = []
    for kind, make in (("person", _person), ("company", _company), ("order", _order)):
        for _ in range(per_kind):
            text, truth = make(fake, rng)
            fields = ", ".join(SCHEMAS[kind]["required"])
            tasks.append(Task(len(tasks), kind, text, truth, f"Extract {fields} as a JSON object."))
    for _ in range(per_kind):
        status = rng.choice(STATUSES)
        text = f"Update on order ORD-{rng.randint(10000, 99999)}: the parcel is {status}."
        question = f"Which status does the order have? Answer with one word: {', '.join(STATUSES)}."
        tasks.append(Task(len(tasks), "choice", text, status, question))
    for _ in range(per_kind):
        when = fake.date_between(start_date="-5y", end_date="today")
        text = f"The contract was signed on {when:%B} {when.day}, {when.year} by {fake.name()}."
        tasks.append(Task(len(tasks), "regex", text, when.isoformat(),
                          "On which date was the contract signed? Answer as YYYY-MM-DD only."))  # fmt: skip
    return tasks


def constraint_body(task: Task, engine: str) -> dict[str, Any]:
    """The request fields that constrain decoding, in the engine's own API (its adapter's dialect)."""
    adapter = get_engine(engine)
    if task.schema is not None:
        body = adapter.constraint_body("json_schema", task.schema)
        body["response_format"]["json_schema"]["name"] = task.kind
        return body
    return (
        adapter.constraint_body("regex", ISO_DATE)
        if task.kind == "regex"
        else adapter.constraint_body("choice", STATUSES)
    )


def to_sample(task: Task, constrained: bool, engine: str, max_tokens: int) -> SampleRequest:
    """Same prompt either way: the unconstrained run shows what the prompt alone achieves."""
    messages = [{"role": "user", "content": f"{task.text}\n\n{task.instruction}"}]
    extra = constraint_body(task, engine) if constrained else None
    return SampleRequest(messages, max_tokens, len(task.text) // 4, extra)


@dataclass
class Score:
    task_id: int
    kind: str
    parsed: bool
    schema_valid: bool
    field_accuracy: float
    output: str
    errors: list[str] = field(default_factory=list)
    truncated: bool = False  # stopped at max_tokens: a grammar guarantees a valid prefix, not a finished answer


def _extract_json(text: str) -> Any:
    """The model's JSON: the whole answer, else the first {...} in it (unconstrained models wrap it in prose)."""
    try:
        return json.loads(text)
    except ValueError:
        found = re.search(r"\{.*\}", text, re.S)
        return json.loads(found.group(0)) if found else None


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, str) and isinstance(got, str):
        return expected.strip().lower() == got.strip().lower()
    return expected == got


def score(task: Task, output: str) -> Score:
    """Parsed, schema-valid (``jsonschema``), and the share of fields equal to the truth."""
    if task.schema is None:
        answer = output.strip().strip(".").lower()
        valid = answer in STATUSES if task.kind == "choice" else re.fullmatch(ISO_DATE, answer) is not None
        return Score(task.task_id, task.kind, valid, valid, float(answer == task.truth), output)
    try:
        data = _extract_json(output)
    except ValueError as exc:
        return Score(task.task_id, task.kind, False, False, 0.0, output, [f"not JSON: {exc}"])
    if not isinstance(data, dict):
        return Score(task.task_id, task.kind, False, False, 0.0, output, ["no JSON object in the answer"])
    errors = [e.message for e in jsonschema.Draft202012Validator(task.schema).iter_errors(data)]
    correct = sum(_same(v, data.get(k)) for k, v in task.truth.items())
    return Score(task.task_id, task.kind, True, not errors, correct / len(task.truth), output, errors)
