"""User classes named in the config by import path (extra callbacks and loggers):
``{class: lightning.pytorch.callbacks.EarlyStopping, monitor: val/loss, patience: 20}``.

Checked at load time (the class imports and is of the right kind; the arguments fit its signature), so
a typo fails before the statistics pass, and built by :func:`instantiate` when the Trainer is made."""

import importlib
import inspect
from typing import Any, Dict, Tuple

from ..errors import ConfigError


def _split(entry: Any, key: str, where: str) -> Tuple[str, Dict[str, Any]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("class"), str):
        raise ConfigError(f"{where}: '{key}' must be {{class: import.path.ClassName, ...its arguments}}, got {entry!r}")
    arguments = {k: v for k, v in entry.items() if k != "class"}
    return entry["class"], arguments


def resolve_class(entry: Any, key: str, where: str, base: type) -> Tuple[type, Dict[str, Any]]:
    """``(class, arguments)`` of a ``{class: ..., **arguments}`` entry, checked against ``base``."""
    path, arguments = _split(entry, key, where)
    module_name, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name) if module_name else None
    except ImportError as err:
        raise ConfigError(f"{where}: '{key}': cannot import module '{module_name}' ({err}); give the full import path of the class") from None
    except AttributeError:
        cls = None
    if cls is None:
        raise ConfigError(f"{where}: '{key}': no class '{path}'; give the full import path, e.g. lightning.pytorch.callbacks.EarlyStopping")
    if not (inspect.isclass(cls) and issubclass(cls, base)):
        raise ConfigError(f"{where}: '{key}': '{path}' is not a {base.__module__}.{base.__qualname__}")
    try:
        inspect.signature(cls).bind(**arguments)
    except TypeError as err:
        raise ConfigError(f"{where}: '{key}': arguments {sorted(arguments)} do not fit {path}: {err}") from None
    return cls, arguments


def instantiate(entry: Dict[str, Any], base: type) -> Any:
    """An instance of an entry :func:`resolve_class` has already checked."""
    cls, arguments = resolve_class(entry, "", "", base)
    return cls(**arguments)
