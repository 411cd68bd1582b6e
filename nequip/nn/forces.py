"""Forces, virial and stress as derivatives of the total energy (no separate force head).

A symmetric strain ``eps [B,3,3]`` displaces positions and cell, ``r -> r (1 + eps)``; then
``forces = -dE/dr``, ``virial = -dE/d(eps)`` (eV) and ``stress = -virial / volume`` (eV/Å^3, ASE sign:
negative under compression). Frames without a cell (volume 0) get zero stress.
"""

from typing import Dict

import torch

from ..data import keys
from .graph_module import GraphModule


class ForceStressOutput(GraphModule):
    """Wraps an energy model (AtomicDataDict -> ``total_energy``) and adds ``forces [N,3]``,
    ``virial [B,3,3]`` and ``stress [B,3,3]``.

    In training mode the derivatives keep their graph, so a force loss can be differentiated with
    respect to the weights.
    """

    def __init__(self, energy_model: GraphModule):
        super().__init__()
        self.energy_model = energy_model
        self.irreps_in = energy_model.irreps_in
        self.irreps_out = dict(energy_model.irreps_out)
        self.irreps_out.update({keys.FORCES: None, keys.VIRIAL: None, keys.STRESS: None})

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        data = dict(data)
        pos, cell, batch = data[keys.POSITIONS], data[keys.CELL], data[keys.BATCH]
        if not pos.requires_grad:
            pos = pos.detach().requires_grad_(True)
        strain = torch.zeros_like(cell, requires_grad=True)
        sym = 0.5 * (strain + strain.transpose(-1, -2))
        data[keys.POSITIONS] = pos + torch.einsum("ni,nij->nj", pos, sym[batch])
        data[keys.CELL] = cell + torch.bmm(cell, sym)

        data = self.energy_model(data)
        energy = data[keys.TOTAL_ENERGY]
        grad_pos, grad_strain = torch.autograd.grad(
            [energy.sum()], [pos, strain], create_graph=self.training
        )
        volume = torch.linalg.det(cell).abs()
        safe_volume = torch.where(volume > 0, volume, torch.ones_like(volume))
        virial = -grad_strain
        data[keys.POSITIONS] = pos
        data[keys.CELL] = cell
        data[keys.FORCES] = -grad_pos
        data[keys.VIRIAL] = virial
        data[keys.STRESS] = torch.where(
            (volume > 0)[:, None, None], -virial / safe_volume[:, None, None], torch.zeros_like(virial)
        )
        return data
