"""NequIP's interaction block: tensor-product convolution weighted by a radial MLP, species-dependent
self-interaction, gated nonlinearity and residual update of the node features."""

import math
from typing import Dict, Optional

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3

from ..data import keys
from ..ops import ConvolutionTP
from ..errors import ConfigError
from .graph_module import GraphModule, IrrepsDict
from .mlp import ScalarMLP
from .self_interaction import SpeciesSelfInteraction
from .species import SpeciesMapping, remap_e3nn_weight


def hidden_irreps(num_features: int, l_max: int, parity: bool) -> o3.Irreps:
    """Target node-feature irreps of the hidden layers.

    With ``parity`` both parities of every l (``0e+0o+1o+1e+...``), otherwise only the parity of the
    spherical harmonics of that l (``0e+1o+2e+...``); blocks no tensor product can reach are dropped
    per layer by :class:`InteractionBlock`.
    """
    irreps = []
    for l in range(l_max + 1):
        natural = (-1) ** l
        for p in ((natural, -natural) if parity else (natural,)):
            irreps.append((num_features, (l, p)))
    return o3.Irreps(irreps)


class InteractionBlock(GraphModule):
    """One message-passing layer on ``node_features``.

    ``h' = gate(linear_2(conv(linear_1(h))) / sqrt(avg_num_neighbors) + self_interaction(h, types))``,
    plus ``h`` when the output irreps equal the input irreps (residual). ``conv`` sums over the edges of
    each center atom the tensor product of the neighbor's features with the edge spherical harmonics,
    weighted per edge, path and channel by an MLP of the radial embedding.
    """

    def __init__(
        self,
        target_irreps: o3.Irreps,
        avg_num_neighbors: float,
        radial_mlp_depth: int = 2,
        radial_mlp_width: int = 64,
        tp_backend: str = "reference",
        resnet: bool = True,
        irreps_in: Optional[IrrepsDict] = None,
    ):
        super().__init__()
        self._declare(
            irreps_in,
            required=[keys.NODE_FEATURES, keys.NODE_ATTRS, keys.EDGE_SH, keys.EDGE_EMBEDDING],
        )
        irreps_h = o3.Irreps(self.irreps_in[keys.NODE_FEATURES])
        irreps_sh = o3.Irreps(self.irreps_in[keys.EDGE_SH])
        irreps_attrs = o3.Irreps(self.irreps_in[keys.NODE_ATTRS])
        num_basis = o3.Irreps(self.irreps_in[keys.EDGE_EMBEDDING]).dim

        self.linear_1 = o3.Linear(irreps_h, irreps_h)
        self.conv = ConvolutionTP(irreps_h, irreps_sh, target_irreps, backend=tp_backend)
        self.radial_mlp = ScalarMLP(
            num_basis, [radial_mlp_width] * radial_mlp_depth, self.conv.weight_numel
        )
        self.neighbor_norm = 1.0 / math.sqrt(avg_num_neighbors)

        reachable = {ir for _, ir in self.conv.irreps_out}
        scalars = o3.Irreps([(m, ir) for m, ir in target_irreps if ir.l == 0 and ir in reachable])
        gated = o3.Irreps([(m, ir) for m, ir in target_irreps if ir.l > 0 and ir in reachable])
        if scalars.dim == 0:
            raise ConfigError(f"no scalar features are reachable in {target_irreps} from {irreps_h} x {irreps_sh}")
        self.gate = e3nn_nn.Gate(
            scalars,
            [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars],
            o3.Irreps(f"{gated.num_irreps}x0e"),
            [torch.sigmoid],
            gated,
        )
        self.linear_2 = o3.Linear(self.conv.irreps_out, self.gate.irreps_in)
        self.self_interaction = SpeciesSelfInteraction(irreps_h, irreps_attrs, self.gate.irreps_in)
        irreps_out = self.gate.irreps_out
        self.resnet = resnet and irreps_out == irreps_h
        self._declare(self.irreps_in, writes={keys.NODE_FEATURES: irreps_out})

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        h = data[keys.NODE_FEATURES]
        center, neighbor = data[keys.EDGE_INDEX][0], data[keys.EDGE_INDEX][1]
        weight = self.radial_mlp(data[keys.EDGE_EMBEDDING])
        message = self.conv(self.linear_1(h), data[keys.EDGE_SH], weight, center, neighbor)
        update = self.linear_2(message * self.neighbor_norm)
        update = self.gate(update + self.self_interaction(h, data[keys.NODE_ATTRS]))
        data[keys.NODE_FEATURES] = h + update if self.resnet else update
        return data

    def species_weights(self, source: "InteractionBlock", mapping: SpeciesMapping) -> Dict[str, torch.Tensor]:
        """The species-dependent self-interaction weights taken from ``source`` (see nequip.nn.species)."""
        return {"self_interaction.weight": remap_e3nn_weight(self.self_interaction, source.self_interaction, 1, mapping)}
