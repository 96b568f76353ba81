"""A model's architecture as the memory arithmetic sees it, and the shape presets.

``ModelShape`` is read from a ``config.json`` (a real model's, or a preset under
``shapes/`` for random-weight "dummy" models). Both the model preparation and the
memory pre-flight stand on it, so it lives below both.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbook.core.errors import ModelPrepareError


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a transformer that decide its memory."""

    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool
    max_position_embeddings: int
    torch_dtype: str

    @classmethod
    def from_config(cls, config: dict[str, Any], source: str = "config.json") -> ModelShape:
        """The numbers from a Hugging Face config; a missing or impossible one is a one-line error naming it."""
        text = _checked_config(config, source)
        heads = text["num_attention_heads"]
        return cls(
            num_layers=text["num_hidden_layers"],
            hidden_size=text["hidden_size"],
            num_attention_heads=heads,
            num_kv_heads=text.get("num_key_value_heads", heads),
            head_dim=text.get("head_dim") or text["hidden_size"] // heads,
            intermediate_size=text["intermediate_size"],
            vocab_size=text["vocab_size"],
            tie_word_embeddings=bool(text.get("tie_word_embeddings", False)),
            max_position_embeddings=text.get("max_position_embeddings", 0),
            torch_dtype=str(text.get("torch_dtype") or text.get("dtype") or "bfloat16"),
        )

    @classmethod
    def from_folder(cls, folder: Path) -> ModelShape:
        path = Path(folder) / "config.json"
        try:
            config = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelPrepareError(f"{path} cannot be read as JSON ({exc})") from None
        return cls.from_config(config, str(path))

    @property
    def parameter_count(self) -> int:
        """Dense decoder estimate: attention + gated MLP + norms + embeddings."""
        q = self.hidden_size * self.num_attention_heads * self.head_dim
        kv = 2 * self.hidden_size * self.num_kv_heads * self.head_dim
        o = self.num_attention_heads * self.head_dim * self.hidden_size
        mlp = 3 * self.hidden_size * self.intermediate_size
        per_layer = q + kv + o + mlp + 2 * self.hidden_size
        embeddings = self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)
        return self.num_layers * per_layer + embeddings + self.hidden_size


SHAPES_DIR = Path(__file__).parent / "shapes"
SHAPE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
REQUIRED_KEYS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _checked_config(config: Any, source: str) -> dict[str, Any]:
    """The language model's part of a config (multimodal configs nest it), refused in one line if unusable."""
    text = config.get("text_config", config) if isinstance(config, dict) else None
    if not isinstance(text, dict):
        raise ModelPrepareError(f"{source} is not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in text]
    if missing:
        raise ModelPrepareError(f"{source} lacks {', '.join(missing)}: not a decoder config the pre-flight reads")
    keys = (*REQUIRED_KEYS, "num_key_value_heads")
    bad = [f"{k}={text[k]!r}" for k in keys if k in text and not _positive_int(text[k])]
    if bad:
        raise ModelPrepareError(f"{source}: {', '.join(bad)} must be a whole number >= 1")
    return text


def list_shapes() -> list[str]:
    return sorted(p.stem for p in SHAPES_DIR.glob("*.json"))


def load_shape(name: str) -> dict[str, Any]:
    path = SHAPES_DIR / f"{name}.json"
    if not SHAPE_NAME.fullmatch(name) or not path.exists():  # a name, never a path out of the folder
        raise ModelPrepareError(f"unknown model.shape {name!r}; known: {', '.join(list_shapes())}")
    return json.loads(path.read_text())
