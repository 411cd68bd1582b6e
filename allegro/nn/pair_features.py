"""Initial equivariant pair features ``V_ij = w_ij * Y(r_ij)`` with U channels per irrep."""

from typing import Dict, Optional

import torch
from e3nn import o3

from nequip.data import keys
from nequip.nn.graph_module import GraphModule, IrrepsDict

from .keys import EDGE_FEATURES, EDGE_LATENT
from .weighted_sh import WeightedSH


def tensor_irreps(num_channels: int, l_max: int, parity: bool) -> o3.Irreps:
    """Irreps of the pair features: ``U x (0e + 1o + 2e + ...)`` when ``parity`` is False, else every
    ``l <= l_max`` with both parities (``0e + 0o + 1o + 1e + ...``)."""
    irs = []
    for l in range(l_max + 1):
        natural = (-1) ** l
        irs.append((num_channels, (l, natural)))
        if parity:
            irs.append((num_channels, (l, -natural)))
    return o3.Irreps(irs)


class InitialPairFeatures(GraphModule):
    """Writes ``edge_features [E, (U x irreps_sh).dim]``: per-(channel, l) weights, a linear map of
    ``edge_latent``, times the edge spherical harmonics ``edge_sh``."""

    def __init__(self, num_channels: int, irreps_in: Optional[IrrepsDict] = None):
        super().__init__()
        self._declare(irreps_in, required=[EDGE_LATENT, keys.EDGE_SH])
        self.irreps_sh = self.irreps_in[keys.EDGE_SH]
        self.num_channels = num_channels
        self.weighted_sh = WeightedSH([ir.l for _, ir in self.irreps_sh], self.num_channels)
        irreps_out = o3.Irreps([(num_channels, ir) for _, ir in self.irreps_sh])
        self._declare(irreps_in, required=[EDGE_LATENT, keys.EDGE_SH], writes={EDGE_FEATURES: irreps_out})
        latent_dim = self.irreps_in[EDGE_LATENT].dim
        self.weights = torch.nn.Linear(latent_dim, num_channels * len(self.irreps_sh), bias=False)
        torch.nn.init.normal_(self.weights.weight, std=latent_dim**-0.5)

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        w = self.weights(data[EDGE_LATENT])
        data[EDGE_FEATURES] = self.weighted_sh(w, data[keys.EDGE_SH])
        return data
