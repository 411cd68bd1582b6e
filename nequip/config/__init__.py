"""Training configuration: schema (dataclasses) and the validating YAML loader."""

from .loader import ConfigError, load_config
from .schema import TrainConfig

__all__ = ["ConfigError", "TrainConfig", "load_config"]
