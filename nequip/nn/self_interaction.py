"""The species-dependent self-interaction of NequIP's interaction block: an equivariant linear map
of the node features whose weights depend on the atom's species.

It is e3nn's ``FullyConnectedTensorProduct(features, T x 0e one-hot types, out)`` (same weights,
same layout, same normalisation, so checkpoints and the species remapping of nequip.nn.species are
unchanged), evaluated as one matrix product per block instead of e3nn's general code path: e3nn
first forms per-atom weight matrices (``[N, T] @ [T, mul_in * mul_out]``) and then one batched
product per atom, which costs more than the whole rest of the layer on small systems.
"""

import math

import torch
from e3nn import o3


class SpeciesSelfInteraction(o3.FullyConnectedTensorProduct):
    """``out = self_interaction(features, types)`` with ``types`` the ``[N, T]`` one-hot encoding
    (any ``[N, T]`` attributes give the same bilinear form as e3nn)."""

    def __init__(self, irreps_in: o3.Irreps, irreps_types: o3.Irreps, irreps_out: o3.Irreps):
        super().__init__(irreps_in, irreps_types, irreps_out)
        if len(self.irreps_in2) != 1 or self.irreps_in2[0].ir != o3.Irrep("0e"):
            raise ValueError(f"the species input must be one block of scalars (T x 0e), got {self.irreps_in2}")
        # plain ints only: compiled graphs guard on what forward reads, and e3nn's Irreps cannot be guarded
        in_slices = self.irreps_in1.slices()
        self._blocks = [
            (
                in_slices[ins.i_in1].start, in_slices[ins.i_in1].stop, self.irreps_in1[ins.i_in1].ir.dim, ins.i_out,
                *ins.path_shape,
                # e3nn's path weight includes sqrt(2l+1), and its l x 0 -> l coupling is identity / sqrt(2l+1)
                ins.path_weight / math.sqrt(self.irreps_in1[ins.i_in1].ir.dim),
            )
            for ins in self.instructions
        ]
        self._out_widths = [mul_ir.dim for mul_ir in self.irreps_out]

    def forward(self, features: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        num_atoms = features.shape[0]
        outputs = [None] * len(self._out_widths)
        start = 0
        for in_start, in_stop, dim, i_out, mul_in, num_types, mul_out, coefficient in self._blocks:
            w = self.weight[start : start + mul_in * num_types * mul_out].reshape(mul_in, num_types * mul_out)
            start += mul_in * num_types * mul_out
            # [N, mul_in, dim] -> [N * dim, mul_in]: one product for all atoms and species
            x = features[:, in_start:in_stop].reshape(num_atoms, mul_in, dim).transpose(1, 2).reshape(num_atoms * dim, mul_in)
            per_type = (x @ w).reshape(num_atoms, dim, num_types, mul_out)
            selected = (per_type * (types * coefficient)[:, None, :, None]).sum(dim=2)  # [N, dim, mul_out]
            block = selected.transpose(1, 2).reshape(num_atoms, mul_out * dim)
            outputs[i_out] = block if outputs[i_out] is None else outputs[i_out] + block
        for i, width in enumerate(self._out_widths):
            if outputs[i] is None:  # an output block no instruction reaches stays zero, as in e3nn
                outputs[i] = features.new_zeros(num_atoms, width)
        return torch.cat(outputs, dim=1)
