"""A dataclass field with its one-line meaning: the help text that ``nequip-train --print-defaults``
prints beside each key, shared by the training config (nequip.config.schema) and the model
hyperparameters (nequip.model.hyperparameters and each kind's config class)."""

from dataclasses import field
from typing import Any


def setting(default: Any, help: str) -> Any:
    """A field with default ``default`` and meaning ``help`` (mutable defaults are copied per instance)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})
