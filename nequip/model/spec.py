"""The model spec: everything needed to rebuild a model from scratch.

In code a spec is a frozen :class:`ModelSpec` whose ``hyperparameters`` are the kind's config
dataclass. In files (checkpoints, packages) it is written by :meth:`ModelSpec.to_dict` as plain data,
so that they load with ``torch.load(weights_only=True)``, and read back once at the file boundary
by :meth:`ModelSpec.from_dict`::

    {"kind": "nequip", "type_names": ["Cu"], "r_max": 4.5, "dtype": "float64",
     "framework_version": "0.1.0", "model": {...hyperparameters with statistics filled in...}}
"""

import contextlib
import dataclasses
from typing import Any, Dict, List, Optional, Tuple

import torch

from .. import __version__
from ..errors import ConfigError, ModelFileError
from .hyperparameters import ModelHyperparameters
from .registry import get_model_kind

DTYPES = {"float32": torch.float32, "float64": torch.float64}
# the keys of a spec's plain-data form; framework_version is absent from files that predate it
_SPEC_KEYS = ("kind", "type_names", "r_max", "dtype", "model")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a model is built from. ``type_names`` is in model type index order; ``dtype`` is a key of
    ``DTYPES``; ``hyperparameters`` is the kind's config dataclass (see nequip.model.registry) with the
    statistics filled in (``per_type_energy_*`` as lists in type order). ``hyperparameters`` is
    ``None`` only for the spec of a ``.nequip.pt2``, whose metadata do not record them;
    ``framework_version`` is ``None`` for files written before versions were recorded."""

    kind: str
    type_names: Tuple[str, ...]
    r_max: float
    dtype: str
    framework_version: Optional[str]
    hyperparameters: Optional[ModelHyperparameters]

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def to_dict(self) -> Dict[str, Any]:
        """The plain-data form written into model files (see the module docstring)."""
        plain = {"kind": self.kind, "type_names": list(self.type_names), "r_max": self.r_max, "dtype": self.dtype}
        if self.framework_version is not None:
            plain["framework_version"] = self.framework_version
        plain["model"] = dataclasses.asdict(self.hyperparameters) if self.hyperparameters is not None else {}
        return plain

    @classmethod
    def from_dict(cls, plain: Any, path: str = "model spec") -> "ModelSpec":
        """The spec of a model file's plain data (written by :meth:`to_dict`). Raises ``ModelFileError``
        naming ``path`` and the key when a key is missing or unknown (a damaged or foreign file) or the
        kind is not installed here."""
        if not isinstance(plain, dict):
            raise ModelFileError(f"'{path}': the model spec is a {type(plain).__name__}, not a mapping; the file is damaged or foreign")
        missing = [key for key in _SPEC_KEYS if key not in plain]
        unknown = sorted(set(plain) - set(_SPEC_KEYS) - {"framework_version"})
        if missing or unknown:
            key = (missing or unknown)[0]
            raise ModelFileError(
                f"'{path}': the model spec {'lacks key' if missing else 'has unknown key'} '{key}'; the file is damaged or foreign"
            )
        if plain["dtype"] not in DTYPES:
            raise ModelFileError(f"'{path}': the model spec has dtype {plain['dtype']!r}, not one of {sorted(DTYPES)}")
        try:
            config_class = get_model_kind(plain["kind"]).config_class
        except ConfigError as err:
            raise ModelFileError(f"'{path}': {err}") from None
        model = plain["model"]
        names = {f.name for f in dataclasses.fields(config_class)}
        unknown = sorted(set(model) - names) if isinstance(model, dict) else []
        if not isinstance(model, dict) or unknown:
            what = f"has unknown key 'model.{unknown[0]}'" if unknown else "has a 'model' that is not a mapping"
            raise ModelFileError(f"'{path}': the model spec {what}; the file is damaged or foreign")
        return cls(
            kind=plain["kind"], type_names=tuple(plain["type_names"]), r_max=float(plain["r_max"]), dtype=plain["dtype"],
            framework_version=plain.get("framework_version"), hyperparameters=config_class(**model),
        )


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
) -> ModelSpec:
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
    return ModelSpec(
        kind=hp["kind"], type_names=tuple(type_names), r_max=float(r_max), dtype=dtype,
        framework_version=__version__, hyperparameters=kind.config_class(**hp),
    )


def build_model(spec: ModelSpec) -> torch.nn.Module:
    """Builds a fresh model (random weights) in the spec's dtype; the model's top module keeps the
    spec it was built from as ``model.spec`` (see nequip.nn.forces.ForceStressOutput)."""
    with default_dtype(spec.torch_dtype):
        return get_model_kind(spec.kind).build(spec)
