"""Weights that depend on the species list, moved to another list (fine-tuning with new species).

A ``mapping`` gives, for every type of the new model, its index in the source model or ``None`` for
a species the source never saw. Only the modules that read one-hot types hold such weights; each
implements ``species_weights(source, mapping)`` (the protocol
nequip.model.fine_tune.SpeciesWeights) with the helpers below. A species kept from the
source gets exactly the source's contribution (the weights are rescaled for the normalisation
constants that depend on the number of types); a new species keeps the new model's fresh weights.
"""

import math
from typing import List, Optional, Sequence

import torch

SpeciesMapping = List[Optional[int]]


def species_mapping(source_types: Sequence[str], target_types: Sequence[str]) -> SpeciesMapping:
    """``mapping[t]`` = index of ``target_types[t]`` in ``source_types``, or ``None`` if it is new."""
    return [list(source_types).index(name) if name in source_types else None for name in target_types]


def remap_type_axis(target: torch.Tensor, source: torch.Tensor, axis: int, mapping: SpeciesMapping, factor: float = 1.0) -> torch.Tensor:
    """``target`` with its slices along ``axis`` replaced by ``factor *`` the source's slice of the
    mapped type; slices of new types are kept."""
    out = target.detach().clone()
    for new, old in enumerate(mapping):
        if old is not None:
            out.select(axis, new).copy_(source.detach().select(axis, old) * factor)
    return out


def remap_e3nn_weight(target_module, source_module, axis: int, mapping: SpeciesMapping) -> torch.Tensor:
    """The flat ``weight`` of an e3nn ``Linear`` or ``TensorProduct`` whose input of types is the
    dimension ``axis`` of every instruction's ``path_shape``. Each block is rescaled by the ratio of
    the path weights (e3nn normalises by fan-in, which counts the types)."""
    blocks, start_t, start_s = [], 0, 0
    for inst_t, inst_s in zip(target_module.instructions, source_module.instructions):
        size_t, size_s = math.prod(inst_t.path_shape), math.prod(inst_s.path_shape)
        block_t = target_module.weight[start_t : start_t + size_t].reshape(inst_t.path_shape)
        block_s = source_module.weight[start_s : start_s + size_s].reshape(inst_s.path_shape)
        factor = inst_s.path_weight / inst_t.path_weight
        blocks.append(remap_type_axis(block_t, block_s, axis, mapping, factor).reshape(-1))
        start_t, start_s = start_t + size_t, start_s + size_s
    return torch.cat(blocks)

