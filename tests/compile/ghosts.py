"""Explicit ghost atoms for a periodic cell, as the LAMMPS plugin passes them: local atoms first,
then every periodic image within ``skin`` of the cell, and the full edge list among all of them."""

import itertools

import numpy as np
import torch


def with_ghosts(pos: np.ndarray, cell: np.ndarray, types: np.ndarray, r_max: float, skin: float):
    """``(pos [N,3], types [N], edge_index [2,E], num_local, owner [N])`` (owner: local atom of each atom); ghosts are images of local atoms whose
    fractional distance from the cell is within ``skin`` Å (``skin >= num_layers * r_max`` makes the
    local energies those of the infinite crystal)."""
    inv = np.linalg.inv(cell)
    heights = 1.0 / np.linalg.norm(inv, axis=0)  # distances between opposite cell faces
    reps = np.ceil(skin / heights).astype(int)
    frac = pos @ inv
    all_pos, all_types, all_owner = [pos], [types], [np.arange(len(pos))]
    margin = skin / heights
    for shift in itertools.product(*[range(-r, r + 1) for r in reps]):
        if shift == (0, 0, 0):
            continue
        f = frac + np.array(shift)
        keep = np.all((f > -margin) & (f < 1 + margin), axis=1)
        all_pos.append(pos[keep] + np.array(shift) @ cell)
        all_types.append(types[keep])
        all_owner.append(np.nonzero(keep)[0])
    P, T = np.concatenate(all_pos), np.concatenate(all_types)
    d = np.linalg.norm(P[None, :, :] - P[:, None, :], axis=-1)
    c, n = np.nonzero((d < r_max) & (d > 0))
    owner = torch.tensor(np.concatenate(all_owner))
    return torch.tensor(P), torch.tensor(T, dtype=torch.long), torch.tensor(np.stack([c, n])), len(pos), owner
