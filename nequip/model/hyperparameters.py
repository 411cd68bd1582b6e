"""The hyperparameters every model kind has: the ``model:`` fields of the shared frame (edge geometry,
per-type scale and shift, number of layers, tensor-product backend), see nequip.model.pipeline.

Each kind's config dataclass extends :class:`ModelHyperparameters` with its own fields and sets its
``kind`` and ``num_layers`` defaults.
"""

from dataclasses import dataclass
from typing import Any


@dataclass
class ModelHyperparameters:
    """``avg_num_neighbors``, ``per_type_energy_shifts`` and ``per_type_energy_scales`` left at ``null``
    are computed from the training set (mean neighbors, least-squares per-type energies, force RMS)."""

    kind: str = ""  # set by each kind
    num_layers: int = 1  # set by each kind
    l_max: int = 2
    parity: bool = True
    num_bessels: int = 8
    bessel_trainable: bool = False
    cutoff_p: int = 6
    tp_backend: str = "reference"
    avg_num_neighbors: Any = None
    per_type_energy_shifts: Any = None
    per_type_energy_scales: Any = None
    scale_shift_trainable: bool = False
