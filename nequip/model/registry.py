"""Model kinds selectable by ``model.kind`` in the config: each has a hyperparameter dataclass and a
builder. Kinds live in their own packages and are imported only when asked for."""

import importlib
from typing import Any, Callable, Dict, NamedTuple, Type

from ..errors import ConfigError


class ModelKind(NamedTuple):
    config_class: Type[Any]
    build: Callable[[Dict[str, Any]], Any]


# kind -> (module, config class name, builder name)
_KINDS = {
    "nequip": ("nequip.model.nequip_model", "NequIPConfig", "build_nequip"),
    "allegro": ("allegro.model", "AllegroConfig", "build_allegro"),
}


def model_kinds() -> list:
    return sorted(_KINDS)


def get_model_kind(kind: str) -> ModelKind:
    """Raises ``ValueError`` naming the valid kinds when ``kind`` is unknown or not installed."""
    if kind not in _KINDS:
        raise ConfigError(f"unknown model kind '{kind}' (key model.kind); valid kinds: {', '.join(model_kinds())}")
    module_name, config_name, build_name = _KINDS[kind]
    try:
        module = importlib.import_module(module_name)
        return ModelKind(getattr(module, config_name), getattr(module, build_name))
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"model kind '{kind}' is not available in this installation: {err}") from err
