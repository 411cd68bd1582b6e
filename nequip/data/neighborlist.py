"""Full neighbor lists with periodic images, computed by vesin (a compiled cell-list library).

An edge ``(i, j, S)`` means: atom ``j`` shifted by the integer lattice vector ``S`` lies within
``r_max`` of atom ``i``; its vector is ``pos[j] - pos[i] + S @ cell`` (Å). The list is *full*:
every pair appears in both directions, ``(i, j, S)`` and ``(j, i, -S)``.
"""

from typing import Tuple

import numpy as np
from vesin import NeighborList

from ..errors import DataError

# Relative tolerance under which the lattice spanned by the periodic cell vectors counts as
# singular (its volume/area/length relative to the product of the vector lengths).
_SINGULAR_RTOL = 1e-10


def _check_periodic_cell(cell: np.ndarray, pbc: np.ndarray) -> None:
    """Raises DataError if the periodic cell vectors are zero or (nearly) linearly dependent.

    vesin itself handles zero or arbitrary vectors along non-periodic directions and mixed
    periodicity; this only turns its "box matrix is not invertible" into an error naming the fix.
    """
    periodic = [cell[d] for d in range(3) if pbc[d]]
    if not periodic:
        return
    p = np.stack(periodic)  # [k, 3]
    lengths = np.linalg.norm(p, axis=1)
    # sqrt(det(Gram)) is the k-dimensional volume of the periodic lattice (k = 1, 2, 3)
    measure = np.sqrt(max(np.linalg.det(p @ p.T), 0.0))
    if np.any(lengths == 0) or measure <= _SINGULAR_RTOL * np.prod(lengths):
        dirs = [("a", "b", "c")[d] for d in range(3) if pbc[d]]
        raise DataError(
            f"cell {cell.tolist()} is singular along the periodic direction(s) "
            f"{', '.join(dirs)} (zero or linearly dependent lattice vectors); give a cell "
            f"with non-zero volume or set pbc=False along the directions without a cell vector"
        )


class CloseAtomsError(DataError):
    """Two atoms (or an atom and a periodic image) closer than the minimum distance.

    Attributes: ``i``, ``j`` (atom indices of the frame), ``distance`` (Å), ``min_distance`` (Å).
    """

    def __init__(self, i: int, j: int, distance: float, min_distance: float):
        self.i, self.j, self.distance, self.min_distance = i, j, distance, min_distance
        super().__init__(f"atoms {i} and {j} are {distance:.4g} Å apart, closer than {min_distance:g} Å")


def neighbor_list(
    pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray, r_max: float, min_distance: float = 0.0
) -> Tuple[np.ndarray, np.ndarray]:
    """Full neighbor list of one frame within the cutoff ``r_max`` (strict: length < r_max).

    Args:
        pos: [N, 3] float, Cartesian positions in Å (need not be wrapped into the cell).
        cell: [3, 3] float, rows are the lattice vectors in Å (ASE convention). Rows along
            non-periodic directions are ignored and may be zero (e.g. an all-zero cell for a
            molecule).
        pbc: [3] bool, periodicity along each cell vector.
        r_max: cutoff radius in Å, > 0.
        min_distance: Å; an edge shorter than this raises :class:`CloseAtomsError` (coincident or
            nearly coincident atoms make every model non-finite). 0 turns the check off. It costs one
            reduction over the edge lengths the list computes anyway.

    Returns:
        edge_index: [2, E] int64, rows (center i, neighbor j).
        edge_cell_shift: [E, 3] float64, integer lattice shifts S of the neighbor; the edge
            vector is ``pos[j] - pos[i] + S @ cell``. The list is full (both directions), contains
            the periodic self-images of an atom (i == j, S != 0) when the cutoff is longer than a
            cell vector, never the pair (i, i, 0), and is sorted by (i, j).

    Raises:
        ValueError: on bad shapes or a non-positive or non-finite r_max.
        DataError: non-finite positions, or a cell that is singular along a periodic direction.
        CloseAtomsError: (a DataError) two atoms closer than ``min_distance``; names the shortest pair.
    """
    pos = np.asarray(pos, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"pos must have shape [N, 3], got {list(pos.shape)}")
    if cell.shape != (3, 3):
        raise ValueError(f"cell must have shape [3, 3], got {list(cell.shape)}")
    if pbc.shape != (3,):
        raise ValueError(f"pbc must have shape [3], got {list(pbc.shape)}")
    if not (np.isfinite(r_max) and r_max > 0):
        raise ValueError(f"r_max must be a positive finite number, got {r_max}")
    if not np.all(np.isfinite(pos)):
        raise DataError("positions contain NaN or inf")

    n = len(pos)
    if n == 0:
        return np.zeros((2, 0), dtype=np.int64), np.zeros((0, 3), dtype=np.float64)

    _check_periodic_cell(cell, pbc)
    calculator = NeighborList(cutoff=float(r_max), full_list=True, sorted=True)
    i, j, shifts, d = calculator.compute(pos, cell, pbc.tolist(), quantities="ijSd", copy=True)
    # vesin's cutoff test may include length == r_max; our contract is strict
    keep = d < r_max
    edge_index = np.stack([i[keep], j[keep]]).astype(np.int64)
    if min_distance > 0 and edge_index.shape[1]:
        lengths = d[keep]
        shortest = int(np.argmin(lengths))
        if lengths[shortest] < min_distance:
            a, b = sorted(int(x) for x in edge_index[:, shortest])
            raise CloseAtomsError(a, b, float(lengths[shortest]), float(min_distance))
    edge_cell_shift = shifts[keep].astype(np.float64)
    return edge_index, edge_cell_shift
