"""Each day's pre-flight: what the runner checks before the first notebook starts, so a run that cannot finish
a day says so at once, not an hour in. The runner looks the hooks up by day number and imports no day module
(``tests/unit/test_architecture.py``); each hook returns what the manifest should record, or None."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playbook.core.profiles import Profile
from playbook.days.day4 import decide_quantized_serving, dequantized_dtype
from playbook.days.lora import check_serving_dtype
from playbook.days.quantize import check_group_size, check_interpreter, is_cached
from playbook.sizing.architecture import ModelShape
from playbook.sizing.models import PreparedModel


def check_day4(profile: Profile, prepared: PreparedModel) -> dict[str, str] | None:
    """Day 4's settings against this model, before any day starts: group size, the quantizer's interpreter
    unless every checkpoint (and, where they are served dequantized, every dense copy) is cached, and how this
    machine's engine will serve the 4-bit checkpoints, said now (what will not be measured, and why)."""
    settings = profile.days.day4
    if settings.prequantized or prepared.local_dir is None or prepared.dummy_weights or profile.attached:
        return None
    check_group_size(settings.group_size, ModelShape.from_folder(Path(prepared.local_dir)))
    serving, _, _ = decide_quantized_serving(profile)
    print(f"Day 4: quantized models served {serving.mode} ({serving.reason}); speed: {serving.to_dict()['speed']}")
    dense = dequantized_dtype(profile) if serving.mode == "dequantized" else None
    if not all(is_cached(settings, m, prepared.local_dir, prepared.sha256, profile.seed, dense)
               for m in settings.methods):  # fmt: skip
        check_interpreter(settings)
    return serving.to_dict()


def check_day6(profile: Profile, prepared: PreparedModel) -> None:
    """Day 6's server must be able to load LoRA adapters at the profile's dtype (an attached server is not ours)."""
    if not profile.attached:
        check_serving_dtype(profile.hardware.accelerator, profile.engine, profile.engine_spec.dtype)


# day -> (the manifest's pre-flight key for what the hook returns, the hook)
PREFLIGHTS: dict[int, tuple[str, Callable[[Profile, PreparedModel], Any]]] = {
    4: ("day4_quantized_serving", check_day4),
    6: ("day6_lora_dtype", check_day6),
}
