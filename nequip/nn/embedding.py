"""Chemical embedding: one-hot atom types and their linear projection to the first node features."""

from typing import Dict, Optional

import torch
from e3nn import o3

from ..data import keys
from .graph_module import GraphModule, IrrepsDict
from .species import SpeciesMapping, remap_e3nn_weight


class OneHotTypes(GraphModule):
    """Writes ``node_attrs [N, num_types]``, the one-hot encoding of ``atom_types``."""

    def __init__(self, num_types: int, irreps_in: Optional[IrrepsDict] = None):
        super().__init__()
        self.num_types = num_types
        self._declare(irreps_in, writes={keys.NODE_ATTRS: o3.Irreps(f"{num_types}x0e")})

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        one_hot = torch.nn.functional.one_hot(data[keys.ATOM_TYPES], self.num_types)
        data[keys.NODE_ATTRS] = one_hot.to(data[keys.POSITIONS].dtype)
        return data


class AtomwiseLinear(GraphModule):
    """Equivariant linear map of one per-atom key into another (``o3.Linear``)."""

    def __init__(
        self,
        irreps_out: o3.Irreps,
        field: str = keys.NODE_FEATURES,
        out_field: Optional[str] = None,
        irreps_in: Optional[IrrepsDict] = None,
    ):
        super().__init__()
        self.field = field
        self.out_field = out_field or field
        self._declare(irreps_in, required=[field], writes={self.out_field: o3.Irreps(irreps_out)})
        self.linear = o3.Linear(self.irreps_in[field], o3.Irreps(irreps_out))

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        data[self.out_field] = self.linear(data[self.field])
        return data


class TypeEmbedding(AtomwiseLinear):
    """Writes ``node_features``: a linear map of the one-hot types ``node_attrs`` (one learned vector per species)."""

    def __init__(self, irreps_out: o3.Irreps, irreps_in: Optional[IrrepsDict] = None):
        super().__init__(irreps_out, field=keys.NODE_ATTRS, out_field=keys.NODE_FEATURES, irreps_in=irreps_in)

    def species_weights(self, source: "TypeEmbedding", mapping: SpeciesMapping) -> Dict[str, torch.Tensor]:
        """This module's species-dependent weights taken from ``source`` (see nequip.nn.species)."""
        return {"linear.weight": remap_e3nn_weight(self.linear, source.linear, 0, mapping)}
