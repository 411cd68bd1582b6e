"""``nequip-train --print-defaults [model.kind=KIND]``: the complete default config as YAML, each key
with its type and one-line meaning, generated from :mod:`.schema` and the kind's hyperparameters."""

import dataclasses
import typing
from enum import Enum
from typing import Any, List

import yaml

from ..errors import ConfigError
from ..model.registry import get_model_kind
from .schema import REQUIRED, TrainConfig

_COMMENT_COLUMN = 40


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " | ".join(member.value for member in annotation)
    if annotation is Any:
        return "any"
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return f"{_type_name(inner[0])} or null" if len(inner) == 1 else "any"
    if origin in (list, List):
        (item,) = typing.get_args(annotation) or (Any,)
        return f"list of {_type_name(item)}"
    return getattr(annotation, "__name__", str(annotation))


def _value(value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    if value == REQUIRED:
        return "???  (required)"
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...").removesuffix("...").strip()


def _render(instance: Any, indent: int, lines: List[str]) -> None:
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        pad = "  " * indent
        if dataclasses.is_dataclass(value):
            lines.append(f"{pad}{field.name}:" + (f"  # {field.metadata['help']}" if "help" in field.metadata else ""))
            _render(value, indent + 1, lines)
            continue
        entry = f"{pad}{field.name}: {_value(value)}"
        meaning = f"{_type_name(field.type)}" + (f"; {field.metadata['help']}" if "help" in field.metadata else "")
        lines.append(f"{entry:<{_COMMENT_COLUMN}} # {meaning}")


def default_config_text(kind: str = "nequip") -> str:
    """The default config of a model ``kind`` as commented YAML (``???`` marks the keys to give)."""
    try:
        model = get_model_kind(kind).config_class()
    except ValueError as err:
        raise ConfigError(f"command line: {err}") from None
    config = TrainConfig(model=model)
    lines = [f"# nequip-train defaults (model.kind={kind}); a config file gives only what differs"]
    _render(config, 0, lines)
    return "\n".join(lines) + "\n"
