"""Per-pair energy readout: an MLP of the final latent, summed onto the center atom."""

import math
from typing import Dict, Optional, Sequence

import torch
from e3nn import o3

from nequip.data import keys
from nequip.nn.graph_module import GraphModule, IrrepsDict
from nequip.nn.mlp import ScalarMLP

from .keys import EDGE_LATENT


class PairEnergyReadout(GraphModule):
    """Writes ``atomic_energy [N]`` = (1/sqrt(avg_num_neighbors)) * sum over edges (i, j) of MLP(latent_ij),
    added onto the center atom i (``edge_index[0]``). Before per-type scale and shift: unitless."""

    def __init__(self, hidden: Sequence[int], avg_num_neighbors: float, irreps_in: Optional[IrrepsDict] = None):
        super().__init__()
        self._declare(irreps_in, required=[EDGE_LATENT], writes={keys.ATOMIC_ENERGY: o3.Irreps("0e")})
        self.mlp = ScalarMLP(self.irreps_in[EDGE_LATENT].dim, list(hidden), 1)
        self.norm = 1.0 / math.sqrt(float(avg_num_neighbors))

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        pair_energy = self.mlp(data[EDGE_LATENT]).squeeze(-1) * self.norm
        pos = data[keys.POSITIONS]
        atomic = torch.zeros(pos.shape[0], dtype=pair_energy.dtype, device=pos.device)
        data[keys.ATOMIC_ENERGY] = atomic.index_add(0, data[keys.EDGE_INDEX][0], pair_energy)
        return data
