"""What the playbook needs to know about an inference engine, in one place.

An :class:`EngineAdapter` owns everything engine-specific: the server's argv, its
environment, how the API key reaches it, whether it can load random ("dummy") weights,
the Prometheus series it exports, how it reports its KV capacity, and the engine
release its flags were checked against. The launcher, the Kubernetes renderer, the load
generator's scraper and the reports ask the adapter instead of testing engine names.
Adding an engine is one module and one :func:`playbook.serving.engines.register` call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from playbook.core.errors import EngineFeatureMissing
from playbook.core.profiles import EngineSpec, HardwareSpec

RELEASE_IN_TAG = re.compile(r"(?<![\d.])v?(\d+\.\d+)\.\d+")
KEY_VARIABLE = "PLAYBOOK_ENGINE_API_KEY"
# Appends ``flag key`` to the engine's own argv inside its process, reading and removing the key from the
# environment, then runs the engine's module as ``python -m`` would: the OS-level command line never holds it.
KEY_SHIM = (
    "import os, runpy, sys; "
    "sys.argv = [sys.argv[0], *sys.argv[1:], {flag!r}, os.environ.pop({variable!r})]; "
    "runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
)


@dataclass(frozen=True)
class Sample:
    """One Prometheus sample."""

    name: str
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class LaunchTarget:
    """What the server is told to load and where to listen."""

    model: str
    served_name: str
    host: str
    port: int


def flags_above_one(spec: EngineSpec, flags: Mapping[str, str]) -> list[str]:
    """``--flag N`` for each of the spec's parallelism settings above 1 (every engine's default is 1)."""
    return [
        item for name, flag in flags.items() if getattr(spec, name) > 1 for item in (flag, str(getattr(spec, name)))
    ]


class EngineAdapter:
    """One engine. Subclasses fill the class attributes and :meth:`server_args`."""

    name: ClassVar[str]
    module: ClassVar[str]  # run as ``python -m <module>``: console scripts differ between distributions
    releases: ClassVar[tuple[str, ...]]  # major.minor releases whose flags these builders were checked against
    distributions: ClassVar[tuple[str, ...]]  # pip names whose version is the engine's version
    install_hint: ClassVar[str]
    dummy_weights: ClassVar[bool] = False  # accepts ``--load-format dummy``
    api_key_variable: ClassVar[str | None] = None  # read from the environment; None: only ``--api-key`` in argv
    key_flag: ClassVar[str] = "--api-key"  # for an engine without api_key_variable: what the shim appends
    metrics: ClassVar[Mapping[str, str]] = {}  # Prometheus series -> the load generator's column
    # (hit tokens, looked-up tokens): two counters whose increase over a workload gives its prefix-cache hit rate
    prefix_cache_series: ClassVar[tuple[str, str] | None] = None
    # A request field that keys the request's cached blocks apart from every other request's: a fresh value on each
    # request measures caching off on the running server. None: only a server started without caching can.
    cache_salt_field: ClassVar[str | None] = None
    # An endpoint that empties the prefix cache when POSTed to while no request runs; None where the engine has none
    # (vLLM's /reset_prefix_cache exists only in its development mode). A comparison that repeats prompts across
    # rounds empties the cache here, or salts each round apart with ``cache_salt_field``.
    cache_flush_path: ClassVar[str | None] = None
    # Speculative decoding. Counters (Prometheus series -> drafts / draft_tokens / accepted_tokens, and the per-
    # position accepted counter): their increase over a workload gives its acceptance. Gauges (series ->
    # acceptance_rate / mean_accepted_length): the engine's own recent value, read once after the workload.
    spec_counters: ClassVar[Mapping[str, str]] = {}
    spec_per_position: ClassVar[str | None] = None
    spec_gauges: ClassVar[Mapping[str, str]] = {}
    info_path: ClassVar[str | None] = None  # an endpoint where the engine describes itself
    version_path: ClassVar[str | None] = None  # an endpoint answering {"version": ...}
    kv_log_pattern: ClassVar[re.Pattern[str] | None] = None  # the log line with its KV capacity in tokens
    cpu_kernels: ClassVar[Mapping[str, str]] = {}  # capability -> the CPU op that provides it (probed before use)
    lora_env: ClassVar[Mapping[str, str]] = {}  # what a multi-LoRA server needs besides its flags
    gpu_lock: ClassVar[str | None] = None  # requirements/<this>: the pinned GPU stack `make gpu-setup` installs
    # Python that parses ``--lora-modules`` flags (given as its argv) with the engine's own argument parser, prints
    # what it made of them, and exits non-zero on a refusal; None where the playbook knows no such parser
    lora_flags_parser: ClassVar[str | None] = None
    highest_port: ClassVar[int] = 65535  # the highest --port the engine accepts
    highest_port_why: ClassVar[str] = ""
    # The accelerators the engine has a build for, and why not on the others (what a notebook prints when it skips)
    accelerators: ClassVar[tuple[str, ...]] = ("nvidia",)
    no_build_why: ClassVar[str] = ""

    def cannot_launch(self, accelerator: str) -> str | None:
        """Why this engine cannot start on ``accelerator``; None where it can. The days ask this rather than test
        engine names, so a new engine's limits live in its adapter."""
        if accelerator in self.accelerators:
            return None
        return self.no_build_why or f"{self.name} has no build for {accelerator}"

    def lora_args(self, adapters: Mapping[str, str], max_loras: int, max_rank: int) -> list[str]:
        """The flags that serve ``adapters`` (name -> folder) beside the base model."""
        raise NotImplementedError(f"{self.name}: its multi-LoRA flags are not known to the playbook")

    def constraint_body(self, kind: str, value: object) -> dict[str, object]:
        """The request fields that constrain decoding to ``kind`` (``json_schema``: a JSON schema; ``regex``: a
        pattern; ``choice``: a list of strings), in this engine's API. The OpenAI ``response_format`` carries a
        JSON schema on every engine the playbook knows; regex and choice are extensions."""
        if kind == "json_schema":
            return {"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": value}}}
        raise NotImplementedError(f"{self.name}: its {kind} constraint is not known to the playbook")

    def grammar_backend_args(self, backend: str) -> list[str] | None:
        """The server flags that pick a structured-output backend; None where this engine has no such choice."""
        return None

    def lora_dtype_problem(self, accelerator: str, dtype: str) -> str | None:
        """Why this engine cannot serve LoRA adapters in ``dtype`` on ``accelerator`` (with the fix); None if it
        can. Checked before the server starts, since some engines only fail an assertion deep in startup."""
        return None

    def lora_model(self, base: str, adapter: str) -> str:
        """The request's ``model`` field that selects ``adapter`` (vLLM: the adapter's name)."""
        return adapter

    def prompt_scoring_request(self, model: str, token_ids: list[int]) -> tuple[str, dict[str, object]]:
        """(path, JSON body) of one request whose reply holds the log-probability of every token of ``token_ids``
        given the ones before it (Day 4's perplexity). Ids, not text, so every model scores the same tokens."""
        raise EngineFeatureMissing(f"{self.name}: how its server scores prompt tokens is not known to the playbook")

    def prompt_scores(self, reply: Mapping[str, object], token_ids: list[int]) -> list[float] | None:
        """From the reply to :meth:`prompt_scoring_request`: the log-probabilities of ``token_ids[1:]`` (the first
        token has no context); None where the reply holds none."""
        return None

    def server_args(self, spec: EngineSpec, target: LaunchTarget) -> list[str]:
        raise NotImplementedError

    def knob_env(self, spec: EngineSpec, hardware: HardwareSpec) -> dict[str, str]:
        """Environment variables the engine reads its settings from (never secrets)."""
        return {}

    def local_env(self, spec: EngineSpec, hardware: HardwareSpec) -> dict[str, str]:
        """Settings that depend on the machine the server starts on: given to a local launch, never written
        into a manifest for another machine."""
        return {}

    def argv(self, spec: EngineSpec, target: LaunchTarget, dummy: bool = False, keyed: bool = False) -> list[str]:
        """The interpreter's arguments, never holding a secret: ``-m module ...``; for a ``keyed`` server of an
        engine that reads its key only from ``--api-key``, a ``-c`` shim that appends it from the environment
        inside the process (``ps``, logs and reports see the shim, not the key)."""
        args = [*self.server_args(spec, target), *spec.extra_args]
        if dummy and self.dummy_weights:
            args += ["--load-format", "dummy"]
        if keyed and self.api_key_variable is None:
            return ["-c", KEY_SHIM.format(flag=self.key_flag, variable=KEY_VARIABLE, module=self.module), *args]
        return ["-m", self.module, *args]

    def key_env(self, api_key: str | None) -> dict[str, str]:
        """Where the key travels: the engine's own variable, or the shim's."""
        return {self.api_key_variable or KEY_VARIABLE: api_key} if api_key else {}

    def release_mismatch(self, image: str | None) -> str | None:
        """A sentence when a container image names a release other than the one the flags are for."""
        found = RELEASE_IN_TAG.findall((image or "").rsplit("/", 1)[-1])
        if not found or any(release in self.releases for release in found):
            return None
        checked = ", ".join(self.releases)
        return (f"image {image} runs {self.name} {found[-1]}, but the playbook's {self.name} flags were checked "
                f"against {checked}: use an image of that release or check every flag first")  # fmt: skip

    def kv_capacity_from_metrics(self, samples: list[Sample]) -> int | None:
        return None

    def kv_capacity_from_info(self, info: object) -> int | None:
        """From the engine's own server-info endpoint (``info_path``), where it has one."""
        return None

    def probe_code(self) -> str | None:
        """Python for the engine's interpreter that prints one JSON line, ``{"build": ..., "kernels": {...}}``,
        for the capabilities in ``cpu_kernels``; None when the engine has nothing to probe."""
        return None

    def utilization_from_log(self, log_text: str, version: str | None) -> float | None:
        """The GPU memory share the engine ran with, as its log says (for runs that did not record it)."""
        return None

    def kv_capacity_from_log(self, log_text: str) -> int | None:
        if self.kv_log_pattern is None:
            return None
        found = self.kv_log_pattern.findall(log_text)
        return int(found[-1].replace(",", "")) if found else None
