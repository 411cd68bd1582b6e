"""The deployment targets: plain functions of tensors (no dicts), in the input/output order that a
``.nequip.pt2`` package records in its metadata.

``ase`` (one periodic or open frame)::

    inputs  pos [N,3], atom_types [N] int64, cell [1,3,3], edge_index [2,E] int64, edge_cell_shift [E,3]
    outputs total_energy [1], atomic_energy [N], forces [N,3], stress [1,3,3] (eV/Å^3, ASE sign; zero
            without a cell), virial [1,3,3] (eV)

``lammps`` (local atoms first, then ghost atoms as explicit images; no cell, no shifts)::

    inputs  pos [N,3], atom_types [N] int64, edge_index [2,E] int64 (center, neighbor), num_local [1] int64
    outputs atomic_energy [N] (zero on ghosts), total_energy [1] (sum over local atoms),
            forces [N,3] (= -dE/dpos for all atoms, ghosts included),
            virial [1,3,3] (= -sum_edges r_ij (x) dE/dr_ij, eV; LAMMPS sign W = sum r (x) F),
            atom_virial [N,3,3] (each edge's term split half to each of its two atoms)

The lammps function differentiates with respect to the edge vectors ``r_ij = pos[nb] - pos[c]``
(the leaf), then scatters to forces and forms the virials from the same gradient.
"""

from typing import Callable, Dict, List, Tuple

import torch

from ..data import keys

TARGETS: Dict[str, Tuple[List[str], List[str]]] = {
    "ase": (
        [keys.POSITIONS, keys.ATOM_TYPES, keys.CELL, keys.EDGE_INDEX, keys.EDGE_CELL_SHIFT],
        [keys.TOTAL_ENERGY, keys.ATOMIC_ENERGY, keys.FORCES, keys.STRESS, keys.VIRIAL],
    ),
    "lammps": (
        [keys.POSITIONS, keys.ATOM_TYPES, keys.EDGE_INDEX, "num_local"],
        [keys.ATOMIC_ENERGY, keys.TOTAL_ENERGY, keys.FORCES, keys.VIRIAL, "atom_virial"],
    ),
}


def _single_frame(pos: torch.Tensor, cell: torch.Tensor) -> Dict[str, torch.Tensor]:
    n = pos.shape[0]
    return {
        keys.BATCH: torch.zeros(n, dtype=torch.long, device=pos.device),
        keys.NUM_ATOMS: torch.full((1,), n, dtype=torch.long, device=pos.device),
        keys.CELL: cell,
        keys.PBC: torch.ones(1, 3, dtype=torch.bool, device=pos.device),
    }


def ase_function(model: torch.nn.Module) -> Callable:
    """``f(pos, atom_types, cell, edge_index, edge_cell_shift) -> (total_energy, atomic_energy, forces,
    stress, virial)`` for a model that outputs forces and stress (``ForceStressOutput``), in eval mode."""

    def forward(pos, atom_types, cell, edge_index, edge_cell_shift):
        data = _single_frame(pos, cell)
        data.update({keys.POSITIONS: pos, keys.ATOM_TYPES: atom_types, keys.EDGE_INDEX: edge_index,
                     keys.EDGE_CELL_SHIFT: edge_cell_shift})
        out = model(data)
        return tuple(out[k] for k in TARGETS["ase"][1])

    return forward


def lammps_function(model: torch.nn.Module) -> Callable:
    """``f(pos, atom_types, edge_index, num_local) -> (atomic_energy, total_energy, forces, virial,
    atom_virial)``; see the module docstring for shapes and signs. Raises ``ValueError`` for a model
    that cannot give its energy as a function of the edge vectors
    (:meth:`nequip.nn.forces.ForceStressOutput.edge_vector_energy`)."""
    edge_vector_energy = getattr(model, "edge_vector_energy", None)
    if edge_vector_energy is None:
        raise ValueError(f"the lammps target needs a model built by nequip's pipeline (ForceStressOutput); got {type(model).__name__}")
    energy = edge_vector_energy()

    def forward(pos, atom_types, edge_index, num_local):
        center, neighbor = edge_index[0], edge_index[1]
        vec = (pos[neighbor] - pos[center]).detach().requires_grad_(True)
        data = _single_frame(pos, torch.zeros(1, 3, 3, dtype=pos.dtype, device=pos.device))
        data.update({keys.POSITIONS: pos, keys.ATOM_TYPES: atom_types, keys.EDGE_INDEX: edge_index,
                     keys.EDGE_VECTORS: vec, keys.EDGE_LENGTHS: torch.linalg.norm(vec, dim=-1)})
        data = energy(data)
        local = torch.arange(pos.shape[0], device=pos.device) < num_local
        atomic = torch.where(local, data[keys.ATOMIC_ENERGY], torch.zeros_like(data[keys.ATOMIC_ENERGY]))
        total = atomic.sum().reshape(1)
        (dE_dr,) = torch.autograd.grad([total.sum()], [vec])
        zeros = torch.zeros_like(pos)
        # r = pos[nb] - pos[c]: dE/dpos[nb] += dE/dr, dE/dpos[c] -= dE/dr
        forces = zeros.index_add(0, center, dE_dr) - zeros.index_add(0, neighbor, dE_dr)
        edge_virial = -vec.detach().unsqueeze(-1) * dE_dr.unsqueeze(-2)  # [E,3,3]
        virial = edge_virial.sum(0).unsqueeze(0)
        atom_virial = torch.zeros(pos.shape[0], 3, 3, dtype=pos.dtype, device=pos.device)
        atom_virial = atom_virial.index_add(0, center, 0.5 * edge_virial).index_add(0, neighbor, 0.5 * edge_virial)
        return atomic.detach(), total.detach(), forces, virial, atom_virial

    return forward
