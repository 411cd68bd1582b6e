"""Training configuration: schema (typed dataclasses), the validating YAML loader, value checks."""

from ..errors import ConfigError
from .loader import config_to_dict, load_config
from .schema import TrainConfig

__all__ = ["ConfigError", "TrainConfig", "config_to_dict", "load_config"]
