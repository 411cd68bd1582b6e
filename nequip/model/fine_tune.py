"""Fine-tuning (``initialize_from:``): the spec and the initial weights of a run that starts from a
trained model, with the species rules of DESIGN.md (weights remapped by species name).

The modules whose weights depend on the species list declare it by implementing
:class:`SpeciesWeights`; the other weights are copied as they are.
"""

import dataclasses
from typing import Dict, List, Protocol, runtime_checkable

import torch

from ..errors import ModelFileError
from ..nn.species import SpeciesMapping, species_mapping
from .io import read_model_file
from .spec import ModelSpec, build_model


@runtime_checkable
class SpeciesWeights(Protocol):
    """A module whose weights have a species axis (those that read one-hot types)."""

    def species_weights(self, source: torch.nn.Module, mapping: SpeciesMapping) -> Dict[str, torch.Tensor]:
        """This module's state dict with each kept species' weights taken from ``source`` (the same
        module in the source model) as ``mapping`` says (see nequip.nn.species); new species keep
        this module's fresh weights."""
        ...


def fine_tuning_spec(spec: ModelSpec, path: str) -> ModelSpec:
    """``spec`` (resolved from the fine-tuning config and data) with what the source model's weights
    were trained with: its ``avg_num_neighbors`` and, for the species it knows, its per-type energy
    scales and shifts. New species keep the values computed from the new data."""
    source_spec, _ = read_model_file(path)
    hp, source_hp = spec.hyperparameters, source_spec.hyperparameters
    mapping = species_mapping(source_spec.type_names, spec.type_names)
    statistics = {"avg_num_neighbors": source_hp.avg_num_neighbors}
    for key in ("per_type_energy_shifts", "per_type_energy_scales"):
        ours, theirs = getattr(hp, key), getattr(source_hp, key)
        statistics[key] = [value if old is None else theirs[old] for value, old in zip(ours, mapping)]
    return dataclasses.replace(spec, hyperparameters=dataclasses.replace(hp, **statistics))


# hyperparameters a fine-tuning run may change: statistics (see fine_tuning_spec) and how it computes
_MAY_DIFFER = {"avg_num_neighbors", "per_type_energy_shifts", "per_type_energy_scales", "tp_backend", "scale_shift_trainable"}


def load_initial_weights(model: torch.nn.Module, path: str) -> List[str]:
    """Loads the weights of a ``.nequip.zip`` or ``.ckpt`` into ``model`` to start a fine-tuning run
    (``initialize_from:``); returns the species that are new to the source model.

    The species may differ: a species the source knows gets exactly its contribution in the source
    model, whatever its position in ``type_names``; a new species keeps ``model``'s fresh weights and
    the per-type scale and shift computed from the new data (see nequip.nn.species). ``model`` must be
    built from :func:`fine_tuning_spec`; everything else (kind, ``r_max``, hyperparameters) must be
    the same, otherwise ``ModelFileError`` says what differs.
    """
    source_spec, weights = read_model_file(path)
    spec = model.spec
    for key in ("kind", "r_max"):
        if getattr(source_spec, key) != getattr(spec, key):
            raise ModelFileError(
                f"initialize_from '{path}' has {key} {getattr(source_spec, key)!r} but the config has {getattr(spec, key)!r}"
            )
    ours, theirs = dataclasses.asdict(spec.hyperparameters), dataclasses.asdict(source_spec.hyperparameters)
    differ = [k for k in sorted(set(ours) | set(theirs)) if k not in _MAY_DIFFER and ours.get(k) != theirs.get(k)]
    if differ:
        key = differ[0]
        raise ModelFileError(
            f"initialize_from '{path}' has model.{key} = {theirs.get(key)!r} but the config has "
            f"{ours.get(key)!r}; fine-tuning needs the same model hyperparameters as the run that wrote it"
        )
    mapping = species_mapping(source_spec.type_names, spec.type_names)
    source = build_model(source_spec)
    source.load_state_dict(weights)
    state = {}
    for name, module in model.named_modules():
        if isinstance(module, SpeciesWeights):
            prefix = f"{name}." if name else ""
            state.update({prefix + k: v for k, v in module.species_weights(source.get_submodule(name), mapping).items()})
    expected = model.state_dict()
    model.load_state_dict({k: state.get(k, weights.get(k)) for k in expected})
    return [name for name, old in zip(spec.type_names, mapping) if old is None]
