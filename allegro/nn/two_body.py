"""The two-body latent: an invariant MLP embedding of (type of i, type of j, |r_ij|) per edge."""

from typing import Dict, Optional, Sequence

import torch
from e3nn import o3

from nequip.data import keys
from nequip.nn.graph_module import GraphModule, IrrepsDict
from nequip.errors import ConfigError
from nequip.nn.mlp import ScalarMLP
from nequip.nn.species import SpeciesMapping, remap_type_axis

from .keys import EDGE_LATENT


class TwoBodyLatent(GraphModule):
    """Writes ``edge_latent [E, mlp_sizes[-1]]`` = MLP([onehot(type_i), onehot(type_j), radial basis(r_ij)])
    times the cutoff envelope ``edge_cutoff [E]``.

    ``mlp_sizes``: hidden sizes followed by the latent dimension (at least one entry). Needs
    ``node_attrs``, ``edge_embedding`` and ``edge_cutoff`` upstream (``ValueError`` otherwise).
    """

    def __init__(self, mlp_sizes: Sequence[int], irreps_in: Optional[IrrepsDict] = None):
        super().__init__()
        if len(mlp_sizes) < 1:
            raise ConfigError("model.two_body_mlp needs at least one size (the last one is the latent dimension)")
        self._declare(
            irreps_in,
            required=[keys.NODE_ATTRS, keys.EDGE_EMBEDDING, keys.EDGE_CUTOFF],
            writes={EDGE_LATENT: o3.Irreps(f"{mlp_sizes[-1]}x0e")},
        )
        num_types = self.irreps_in[keys.NODE_ATTRS].dim
        num_basis = self.irreps_in[keys.EDGE_EMBEDDING].dim
        self.num_types = num_types
        self.latent_dim = int(mlp_sizes[-1])
        self.mlp = ScalarMLP(2 * num_types + num_basis, list(mlp_sizes[:-1]), self.latent_dim)

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        center, neighbor = data[keys.EDGE_INDEX][0], data[keys.EDGE_INDEX][1]
        attrs = data[keys.NODE_ATTRS]
        x = torch.cat([attrs[center], attrs[neighbor], data[keys.EDGE_EMBEDDING]], dim=-1)
        data[EDGE_LATENT] = self.mlp(x) * data[keys.EDGE_CUTOFF].unsqueeze(-1)
        return data

    def species_weights(self, source: "TwoBodyLatent", mapping: SpeciesMapping) -> Dict[str, torch.Tensor]:
        """The first MLP layer, whose input rows are [type of i, type of j, radial basis], taken from
        ``source`` (see nequip.nn.species); rescaled for its 1/sqrt(fan-in), which counts the types."""
        factor = source.mlp.scales[0] / self.mlp.scales[0]
        new, old = self.mlp.weights[0], source.mlp.weights[0]
        t_new, t_old = self.num_types, source.num_types
        blocks = [
            remap_type_axis(new[:t_new], old[:t_old], 0, mapping, factor),
            remap_type_axis(new[t_new : 2 * t_new], old[t_old : 2 * t_old], 0, mapping, factor),
            old[2 * t_old :].detach() * factor,
        ]
        return {"mlp.weights.0": torch.cat(blocks)}
