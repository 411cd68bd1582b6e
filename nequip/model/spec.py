"""The model spec: everything needed to rebuild a model from scratch, as plain data.

A spec is a dict of Python scalars, strings and lists (so checkpoints and archives load with
``torch.load(weights_only=True)``)::

    {"kind": "nequip", "type_names": ["Cu"], "r_max": 4.5, "dtype": "float64",
     "framework_version": "0.1.0", "model": {...hyperparameters with statistics filled in...}}
"""

import contextlib
import dataclasses
from typing import Any, Dict, List, Optional

import torch

from .. import __version__
from ..errors import ConfigError
from .registry import get_model_kind

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """Builds parameters and e3nn constants directly in the model's dtype."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _per_type(value: Any, type_names: List[str], key: str) -> List[float]:
    """A scalar, a list in type order, or a ``{species: value}`` mapping -> a list in type order."""
    if isinstance(value, (int, float)):
        return [float(value)] * len(type_names)
    if isinstance(value, dict):
        missing = [t for t in type_names if t not in value]
        unknown = [t for t in value if t not in type_names]
        if missing or unknown:
            raise ConfigError(
                f"model.{key}: species {missing or unknown} {'missing' if missing else 'not in type_names'}; "
                f"give one value for each of type_names {type_names}"
            )
        return [float(value[t]) for t in type_names]
    values = [float(v) for v in value]
    if len(values) != len(type_names):
        raise ConfigError(
            f"model.{key} has {len(values)} values but type_names {type_names} has {len(type_names)}"
        )
    return values


def resolve_model_spec(
    model_section: Dict[str, Any],
    type_names: List[str],
    r_max: float,
    dtype: str,
    statistics: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Validates the ``model:`` section against its kind's dataclass and fills the values left ``null``
    (``avg_num_neighbors``, ``per_type_energy_shifts``, ``per_type_energy_scales``) from training-set
    ``statistics``. Raises ``ConfigError`` naming the key on a bad value."""
    kind = get_model_kind(model_section.get("kind", "nequip"))
    names = {f.name for f in dataclasses.fields(kind.config_class)}
    unknown = sorted(set(model_section) - names)
    if unknown:
        raise ConfigError(f"unknown key(s) model.{unknown[0]}; valid keys: {', '.join(sorted(names))}")
    hp = dataclasses.asdict(kind.config_class(**model_section))
    if dtype not in DTYPES:
        raise ConfigError(f"model_dtype must be one of {sorted(DTYPES)}, got '{dtype}'")

    def need(stat: str, key: str):
        if statistics is None or statistics.get(stat) is None:
            raise ConfigError(f"model.{key} is null but no training statistics are available to compute it")
        return statistics[stat]

    if hp.get("avg_num_neighbors", 0) is None:
        hp["avg_num_neighbors"] = float(need("avg_num_neighbors", "avg_num_neighbors"))
    if "per_type_energy_shifts" in hp:
        shifts = hp["per_type_energy_shifts"]
        if shifts is None:
            shifts = need("per_type_energy_shift", "per_type_energy_shifts")
        hp["per_type_energy_shifts"] = _per_type(shifts, type_names, "per_type_energy_shifts")
    if "per_type_energy_scales" in hp:
        scales = hp["per_type_energy_scales"]
        if scales is None:
            scales = need("force_rms", "per_type_energy_scales")
        hp["per_type_energy_scales"] = _per_type(scales, type_names, "per_type_energy_scales")
    return {
        "kind": hp["kind"],
        "type_names": list(type_names),
        "r_max": float(r_max),
        "dtype": dtype,
        "framework_version": __version__,
        "model": hp,
    }


def build_model(spec: Dict[str, Any]) -> torch.nn.Module:
    """Builds a fresh model (random weights) in the spec's dtype; the spec is kept as ``model.spec``."""
    kind = get_model_kind(spec["kind"])
    with default_dtype(DTYPES[spec["dtype"]]):
        model = kind.build(spec)
    model.spec = spec
    return model
