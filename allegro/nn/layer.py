"""One Allegro layer: environment embedding, channel-wise tensor product with the pair features,
equivariant channel mixing, and the residual update of the invariant latent."""

import math
from typing import Dict, Optional, Sequence

import torch
from e3nn import o3

from nequip.data import keys
from nequip.nn.graph_module import GraphModule, IrrepsDict
from nequip.nn.mlp import ScalarMLP
from nequip.ops import ChannelwiseTP

from .keys import EDGE_FEATURES, EDGE_LATENT
from .weighted_sh import WeightedSH


class AllegroLayer(GraphModule):
    """Updates ``edge_features`` (V) and ``edge_latent`` (x) of every edge (i, j):

    1. ``env_i = (1/sqrt(avg_num_neighbors)) * sum_{k in N(i)} w(x_ik) * Y(r_ik)``  ``[N, (U x irreps_sh).dim]``
    2. ``T_ij = V_ij (x)_uuu env_i`` (``nequip.ops.ChannelwiseTP``, no weights)
    3. ``V_ij <- Linear(T_ij)`` to ``feature_irreps`` (mixing channels per irrep), unless ``last``
    4. ``x_ij <- (x_ij + MLP([x_ij, scalars of T_ij])) / sqrt(2) * cutoff(r_ij)``

    With ``last=True`` the tensor product only computes its scalar (0e) outputs and V is not updated.
    Shapes: ``edge_features [E, dim(V irreps)]``, ``edge_latent [E, latent_dim]``; all per-edge, so the
    model stays strictly local (an atom only sees neighbours within r_max).
    """

    def __init__(
        self,
        feature_irreps: o3.Irreps,
        latent_mlp: Sequence[int],
        avg_num_neighbors: float,
        tp_backend: str = "reference",
        last: bool = False,
        irreps_in: Optional[IrrepsDict] = None,
    ):
        super().__init__()
        self._declare(irreps_in, required=[EDGE_FEATURES, EDGE_LATENT, keys.EDGE_SH, keys.EDGE_CUTOFF])
        irreps_v = self.irreps_in[EDGE_FEATURES]
        self.irreps_sh = self.irreps_in[keys.EDGE_SH]
        muls = {mul for mul, _ in irreps_v}
        if len(muls) != 1:
            raise ValueError(f"AllegroLayer needs one multiplicity in edge_features, got {irreps_v}")
        self.num_channels = muls.pop()
        self.weighted_sh = WeightedSH([ir.l for _, ir in self.irreps_sh], self.num_channels)
        latent_dim = self.irreps_in[EDGE_LATENT].dim
        self.last = last
        self.env_norm = 1.0 / math.sqrt(float(avg_num_neighbors))

        self.env_weights = torch.nn.Linear(latent_dim, self.num_channels * len(self.irreps_sh), bias=False)
        torch.nn.init.normal_(self.env_weights.weight, std=latent_dim**-0.5)
        irreps_env = o3.Irreps([(self.num_channels, ir) for _, ir in self.irreps_sh])
        target = o3.Irreps("0e") if last else o3.Irreps(feature_irreps)
        self.tp = ChannelwiseTP(irreps_v, irreps_env, target, backend=tp_backend)
        tp_out = o3.Irreps(self.tp.irreps_out)
        scalar_cols = [
            idx for sl, (_, ir) in zip(tp_out.slices(), tp_out) if ir == o3.Irrep("0e") for idx in range(sl.start, sl.stop)
        ]
        if not scalar_cols:
            raise ValueError(f"AllegroLayer: the tensor product {irreps_v} x {irreps_env} has no 0e output")
        self.register_buffer("scalar_cols", torch.tensor(scalar_cols, dtype=torch.long), persistent=False)
        self.latent_mlp = ScalarMLP(latent_dim + len(scalar_cols), list(latent_mlp), latent_dim)
        writes = {EDGE_LATENT: o3.Irreps(f"{latent_dim}x0e")}
        if not last:
            self.linear = o3.Linear(tp_out, o3.Irreps(feature_irreps))
            writes[EDGE_FEATURES] = o3.Irreps(feature_irreps)
        self._declare(irreps_in, required=[EDGE_FEATURES, EDGE_LATENT, keys.EDGE_SH, keys.EDGE_CUTOFF], writes=writes)

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        center = data[keys.EDGE_INDEX][0]
        latent = data[EDGE_LATENT]
        num_atoms = data[keys.POSITIONS].shape[0]
        w = self.env_weights(latent)
        env_edges = self.weighted_sh(w, data[keys.EDGE_SH])
        env = torch.zeros(num_atoms, env_edges.shape[1], dtype=env_edges.dtype, device=env_edges.device)
        env = env.index_add(0, center, env_edges) * self.env_norm

        tp = self.tp(data[EDGE_FEATURES], env, center)
        scalars = tp.index_select(1, self.scalar_cols)
        update = self.latent_mlp(torch.cat([latent, scalars], dim=-1))
        # the constant joins the [E, 1] envelope: one pass over the [E, latent] tensors, not two
        data[EDGE_LATENT] = (latent + update) * (data[keys.EDGE_CUTOFF].unsqueeze(-1) * 2.0**-0.5)
        if not self.last:
            data[EDGE_FEATURES] = self.linear(tp)
        return data
