"""Energy readout: per-type scale and shift of the atomic energies, and their sum per frame."""

from typing import Dict, Optional, Sequence

import torch
from e3nn import o3
from torch.fx.experimental.symbolic_shapes import guard_or_false

from ..data import keys
from .graph_module import GraphModule, IrrepsDict
from .species import SpeciesMapping, remap_type_axis


class PerTypeScaleShift(GraphModule):
    """``atomic_energy <- scale[type] * atomic_energy + shift[type]`` (eV).

    Scales and shifts are initialised from training-set statistics (force RMS, least-squares per-type
    energies) and stored in the model; trainable if asked.
    """

    def __init__(
        self,
        scales: Sequence[float],
        shifts: Sequence[float],
        trainable: bool = False,
        irreps_in: Optional[IrrepsDict] = None,
    ):
        super().__init__()
        self._declare(irreps_in, needs={keys.ATOMIC_ENERGY: o3.Irreps("0e")})
        dtype = torch.get_default_dtype()
        scales_t = torch.as_tensor(list(scales), dtype=dtype)
        shifts_t = torch.as_tensor(list(shifts), dtype=dtype)
        if trainable:
            self.scales = torch.nn.Parameter(scales_t)
            self.shifts = torch.nn.Parameter(shifts_t)
        else:
            self.register_buffer("scales", scales_t)
            self.register_buffer("shifts", shifts_t)

    def species_weights(self, source: "PerTypeScaleShift", mapping: SpeciesMapping) -> Dict[str, torch.Tensor]:
        """Kept species keep the source's scale and shift; new ones keep this model's (from the new data)."""
        return {name: remap_type_axis(getattr(self, name), getattr(source, name), 0, mapping) for name in ("scales", "shifts")}

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        types = data[keys.ATOM_TYPES]
        data[keys.ATOMIC_ENERGY] = self.scales[types] * data[keys.ATOMIC_ENERGY] + self.shifts[types]
        return data


class AtomicEnergyReadout(GraphModule):
    """Linear map of the node features to one scalar per atom: ``atomic_energy [N]``."""

    def __init__(self, irreps_in: Optional[IrrepsDict] = None):
        super().__init__()
        self._declare(irreps_in, required=[keys.NODE_FEATURES], writes={keys.ATOMIC_ENERGY: o3.Irreps("0e")})
        self.linear = o3.Linear(self.irreps_in[keys.NODE_FEATURES], o3.Irreps("0e"))

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        data[keys.ATOMIC_ENERGY] = self.linear(data[keys.NODE_FEATURES]).squeeze(-1)
        return data


class TotalEnergySum(GraphModule):
    """``total_energy [B]``: the sum of ``atomic_energy`` over the atoms of each frame."""

    def __init__(self, irreps_in: Optional[IrrepsDict] = None):
        super().__init__()
        self._declare(
            irreps_in, needs={keys.ATOMIC_ENERGY: o3.Irreps("0e")}, writes={keys.TOTAL_ENERGY: o3.Irreps("0e")}
        )

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        atomic = data[keys.ATOMIC_ENERGY]
        num_frames = data[keys.NUM_ATOMS].shape[0]
        # Known to be one frame (eager calls, exported models): a plain sum, as Inductor's CPU code
        # generator fails on an index_add whose index it has folded to the constant zeros of a single
        # frame. guard_or_false keeps compiled training from specialising a dynamic frame count on 1.
        if guard_or_false(num_frames == 1):
            data[keys.TOTAL_ENERGY] = atomic.sum(0, keepdim=True)
            return data
        total = torch.zeros(num_frames, dtype=atomic.dtype, device=atomic.device)
        data[keys.TOTAL_ENERGY] = total.index_add(0, data[keys.BATCH], atomic)
        return data
