"""Forces, virial and stress as derivatives of the total energy (no separate force head).

A symmetric strain ``eps [B,3,3]`` displaces positions and cell, ``r -> r (1 + eps)``; then
``forces = -dE/dr``, ``virial = -dE/d(eps)`` (eV) and ``stress = -virial / volume`` (eV/Å^3, ASE sign:
negative under compression). Frames without a cell (volume 0) get zero stress.
"""

from typing import TYPE_CHECKING, Callable, Dict, Optional

import torch

from ..data import keys
from .edges import EdgeVectors
from .graph_module import GraphModule

if TYPE_CHECKING:  # nn does not import model at run time
    from ..model.spec import ModelSpec

# energy_and_gradients(inputs, pos, strain) -> {total_energy, atomic_energy, dE/dpos, dE/dstrain}
GradientFunction = Callable[[Dict[str, torch.Tensor], torch.Tensor, torch.Tensor], Dict[str, torch.Tensor]]
GRAD_POSITIONS = "grad_pos"
GRAD_STRAIN = "grad_strain"


class ForceStressOutput(GraphModule):
    """Wraps an energy model (AtomicDataDict -> ``total_energy``) and adds ``forces [N,3]``,
    ``virial [B,3,3]`` and ``stress [B,3,3]``.

    In training mode the derivatives keep their graph, so a force loss can be differentiated with
    respect to the weights. ``compiled_gradients``, when set (see nequip.model.compiled), runs in
    place of :meth:`energy_and_gradients`.

    ``spec`` (the :class:`nequip.model.spec.ModelSpec` the model was built from) is kept as the plain
    attribute ``spec``, outside the state dict; ``forward`` never reads it, so tracing and export
    do not see it.
    """

    def __init__(self, energy_model: GraphModule, spec: "ModelSpec"):
        super().__init__()
        self.spec = spec
        self.energy_model = energy_model
        self.irreps_in = energy_model.irreps_in
        self.irreps_out = dict(energy_model.irreps_out)
        self.irreps_out.update({keys.FORCES: None, keys.VIRIAL: None, keys.STRESS: None})
        self.compiled_gradients: Optional[GradientFunction] = None

    def energy_and_gradients(
        self, inputs: Dict[str, torch.Tensor], pos: torch.Tensor, strain: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        """The energy of the strained frames and its gradients with respect to the leaves ``pos``
        ``[N,3]`` and ``strain`` ``[B,3,3]``: the part of the model that ``torch.compile`` takes whole
        (the leaves are made outside, where ``requires_grad_`` is allowed)."""
        data = dict(inputs)
        sym = 0.5 * (strain + strain.transpose(-1, -2))
        data[keys.POSITIONS] = pos + torch.einsum("ni,nij->nj", pos, sym[data[keys.BATCH]])
        data[keys.CELL] = data[keys.CELL] + torch.bmm(data[keys.CELL], sym)
        data = self.energy_model(data)
        energy = data[keys.TOTAL_ENERGY]
        atomic = data[keys.ATOMIC_ENERGY]
        grad_pos, grad_strain = torch.autograd.grad([energy.sum()], [pos, strain], create_graph=self.training)
        if not self.training:  # their graph is spent: detached, as compiled functions must return them
            energy, atomic = energy.detach(), atomic.detach()
        return {keys.TOTAL_ENERGY: energy, keys.ATOMIC_ENERGY: atomic, GRAD_POSITIONS: grad_pos, GRAD_STRAIN: grad_strain}

    def edge_vector_energy(self) -> Callable[[Dict[str, torch.Tensor]], Dict[str, torch.Tensor]]:
        """The energy model as a function of given ``edge_vectors [E,3]`` and ``edge_lengths [E]``: every
        step but the one that computes them from positions, cell and shifts (:class:`EdgeVectors`), so
        that an exporter can differentiate with respect to the edge vectors (nequip.export.targets).
        Raises ``ValueError`` when the energy model is not a pipeline with one such step."""
        steps = list(getattr(self.energy_model, "steps", {}).values())
        kept = [step for step in steps if not isinstance(step, EdgeVectors)]
        if len(kept) != len(steps) - 1:
            raise ValueError(
                "the energy as a function of the edge vectors needs a SequentialGraphNetwork with one EdgeVectors "
                f"step; got {type(self.energy_model).__name__}"
            )

        def energy(data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
            for step in kept:
                data = step(data)
            return data

        return energy

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        data = dict(data)
        pos, cell = data[keys.POSITIONS], data[keys.CELL]
        if not pos.requires_grad:
            pos = pos.detach().requires_grad_(True)
        strain = torch.zeros_like(cell).requires_grad_(True)
        inputs = {key: data[key] for key in keys.MODEL_INPUT_KEYS}
        out = (self.compiled_gradients or self.energy_and_gradients)(inputs, pos, strain)
        # |a . (b x c)|: a plain product that compiled and exported graphs lower to fused code
        volume = torch.linalg.vecdot(cell[:, 0], torch.linalg.cross(cell[:, 1], cell[:, 2])).abs()
        safe_volume = torch.where(volume > 0, volume, torch.ones_like(volume))
        virial = -out[GRAD_STRAIN]
        data[keys.TOTAL_ENERGY] = out[keys.TOTAL_ENERGY]
        data[keys.ATOMIC_ENERGY] = out[keys.ATOMIC_ENERGY]
        data[keys.FORCES] = -out[GRAD_POSITIONS]
        data[keys.VIRIAL] = virial
        data[keys.STRESS] = torch.where(
            (volume > 0)[:, None, None], -virial / safe_volume[:, None, None], torch.zeros_like(virial)
        )
        return data
