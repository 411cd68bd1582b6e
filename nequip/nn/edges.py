"""Per-edge geometry: edge vectors and lengths, spherical harmonics, radial embedding."""

from typing import Dict, Optional

import torch
from e3nn import o3

from ..data import keys
from .graph_module import GraphModule, IrrepsDict
from .radial import BesselBasis, PolynomialCutoff


def edge_vectors(data: Dict[str, torch.Tensor]) -> torch.Tensor:
    """``pos[neighbor] - pos[center] + edge_cell_shift @ cell[frame of center]`` as ``[E, 3]`` (Å)."""
    pos = data[keys.POSITIONS]
    center, neighbor = data[keys.EDGE_INDEX][0], data[keys.EDGE_INDEX][1]
    vec = pos[neighbor] - pos[center]
    cell = data[keys.CELL][data[keys.BATCH][center]]
    shift = data[keys.EDGE_CELL_SHIFT].to(vec.dtype)
    return vec + torch.einsum("ei,eij->ej", shift, cell)


class EdgeVectors(GraphModule):
    """Writes ``edge_vectors [E, 3]`` and ``edge_lengths [E]`` from positions, cell and shifts."""

    def __init__(self, irreps_in: Optional[IrrepsDict] = None):
        super().__init__()
        self._declare(
            irreps_in,
            writes={keys.EDGE_VECTORS: o3.Irreps("1o"), keys.EDGE_LENGTHS: o3.Irreps("0e")},
        )

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        vec = edge_vectors(data)
        data[keys.EDGE_VECTORS] = vec
        data[keys.EDGE_LENGTHS] = torch.linalg.norm(vec, dim=-1)
        return data


def sh_irreps(l_max: int) -> o3.Irreps:
    """Irreps of the edge spherical harmonics, ``1x0e + 1x1o + 1x2e + ...``: their true parity, so
    models built on them are equivariant under reflections too (energies are reflection-invariant)."""
    return o3.Irreps.spherical_harmonics(l_max, p=-1)


class EdgeSphericalHarmonics(GraphModule):
    """Writes ``edge_sh [E, (l_max+1)^2]``: component-normalised spherical harmonics of the unit edge
    vector (each component of order l has mean square 1 over the sphere)."""

    def __init__(self, l_max: int, irreps_in: Optional[IrrepsDict] = None):
        super().__init__()
        self.irreps_sh = sh_irreps(l_max)
        self.sh = o3.SphericalHarmonics(self.irreps_sh, normalize=True, normalization="component")
        self._declare(
            irreps_in, needs={keys.EDGE_VECTORS: o3.Irreps("1o")}, writes={keys.EDGE_SH: self.irreps_sh}
        )

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        data[keys.EDGE_SH] = self.sh(data[keys.EDGE_VECTORS])
        return data


class RadialEdgeEmbedding(GraphModule):
    """Writes ``edge_embedding [E, num_basis]`` (Bessel basis times the cutoff envelope) and
    ``edge_cutoff [E]`` (the envelope alone)."""

    def __init__(
        self,
        r_max: float,
        num_basis: int = 8,
        trainable: bool = False,
        cutoff_p: int = 6,
        irreps_in: Optional[IrrepsDict] = None,
    ):
        super().__init__()
        self.basis = BesselBasis(r_max, num_basis, trainable)
        self.cutoff = PolynomialCutoff(r_max, cutoff_p)
        self._declare(
            irreps_in,
            needs={keys.EDGE_LENGTHS: o3.Irreps("0e")},
            writes={keys.EDGE_EMBEDDING: o3.Irreps(f"{num_basis}x0e"), keys.EDGE_CUTOFF: o3.Irreps("0e")},
        )

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        r = data[keys.EDGE_LENGTHS]
        cutoff = self.cutoff(r)
        data[keys.EDGE_EMBEDDING] = self.basis(r) * cutoff.unsqueeze(-1)
        data[keys.EDGE_CUTOFF] = cutoff
        return data
