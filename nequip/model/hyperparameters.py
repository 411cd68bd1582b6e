"""The hyperparameters every model kind has: the ``model:`` fields of the shared frame (edge geometry,
per-type scale and shift, number of layers, tensor-product backend), see nequip.model.pipeline.

Each kind's config dataclass extends :class:`ModelHyperparameters` with its own fields and sets its
``kind`` and ``num_layers`` defaults.
"""

from dataclasses import dataclass
from typing import Any

from ..utils.setting import setting


@dataclass
class ModelHyperparameters:
    """``avg_num_neighbors``, ``per_type_energy_shifts`` and ``per_type_energy_scales`` left at ``null``
    are computed from the training set (mean neighbors, least-squares per-type energies, force RMS)."""

    kind: str = setting("", "model architecture: nequip (message passing) or allegro (strictly local)")
    num_layers: int = setting(1, "interaction blocks (nequip) or Allegro layers; each widens the receptive field by r_max (nequip)")
    l_max: int = setting(2, "highest rotation order of the equivariant features (0: invariant only)")
    parity: bool = setting(True, "features of both parities (O(3)); false: SO(3) features, cheaper, not mirror-equivariant")
    num_bessels: int = setting(8, "Bessel functions of the radial basis of each edge length")
    bessel_trainable: bool = setting(False, "train the Bessel frequencies")
    cutoff_p: int = setting(6, "exponent of the polynomial envelope that takes edges smoothly to zero at r_max")
    tp_backend: str = setting("reference", "tensor products: reference (plain torch) | extension (our C++/CUDA operators, built on first use)")
    avg_num_neighbors: Any = setting(None, "normalisation of the neighbour sums; null: mean neighbour count of the training set")
    per_type_energy_shifts: Any = setting(None, "per-species energy shift (eV): one number, a list in type_names order or {species: value}; null: least-squares fit to the training energies")
    per_type_energy_scales: Any = setting(None, "per-species energy scale, same forms; null: RMS of the training forces")
    scale_shift_trainable: bool = setting(False, "train the per-species shifts and scales")
