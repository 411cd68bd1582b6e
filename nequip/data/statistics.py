"""Training-set statistics that initialise a model: per-type energy shifts, force scales,
average number of neighbors. One streaming pass; memory O(num_types^2)."""

import warnings
from typing import Any, Dict, Iterable

import numpy as np
import torch

from ..errors import DataError
from . import keys


def compute_statistics(
    frames: Iterable[Dict[str, torch.Tensor]], num_types: int
) -> Dict[str, Any]:
    """Statistics of the training frames, in one pass.

    Args:
        frames: AtomicDataDicts (single frames or batches; NaN labels are skipped, so collated
            batches with NaN-filled labels are fine).
        num_types: number of model types (``atom_types`` take values ``0 .. num_types - 1``).

    Returns:
        plain Python values (safe for YAML and ``weights_only`` checkpoints):

        - ``per_type_energy_shift``: list [num_types], eV/atom. Least-squares fit
          ``total_energy ~ sum_t count_t * shift_t`` over frames with an energy. Types that never
          appear in such frames get 0 (with a warning); when compositions are collinear (e.g. all
          frames have the same stoichiometry) the minimum-norm solution is returned.
        - ``force_rms``: RMS of all force components over all atoms with forces (eV/Å); 1.0 if
          there are no forces (with a warning).
        - ``per_type_force_rms``: list [num_types], RMS of force components per type; types
          without forces get ``force_rms``.
        - ``avg_num_neighbors``: edges / atoms (full list, so neighbors per atom).
        - ``num_frames``, ``num_atoms``: ints; ``num_frames_with_energy``,
          ``num_atoms_with_forces``: ints.

    Raises:
        DataError: no frames. ValueError: an ``atom_types`` value outside ``[0, num_types)`` (a bug).
    """
    ata = np.zeros((num_types, num_types))  # sum over frames of counts counts^T
    ate = np.zeros(num_types)  # sum over frames of counts * energy
    type_in_energy_frames = np.zeros(num_types, dtype=bool)
    force_sq = np.zeros(num_types)  # sum of squared force components per type
    force_atoms = np.zeros(num_types)  # atoms with forces per type
    num_frames = num_atoms = num_edges = num_energy_frames = 0

    for data in frames:
        types = data[keys.ATOM_TYPES].long()
        if types.numel() and (int(types.min()) < 0 or int(types.max()) >= num_types):
            raise ValueError(f"atom_types outside [0, {num_types}); wrong num_types?")
        num_atoms_b = data[keys.NUM_ATOMS].long()
        batch = data.get(keys.BATCH)
        if batch is None:
            batch = torch.repeat_interleave(torch.arange(len(num_atoms_b)), num_atoms_b)
        b = len(num_atoms_b)
        num_frames += b
        num_atoms += int(types.numel())
        num_edges += int(data[keys.EDGE_INDEX].shape[1])

        # per-frame type counts [B, T]
        counts = torch.zeros(b, num_types, dtype=torch.float64)
        counts.index_put_((batch.long(), types), torch.ones_like(types, dtype=torch.float64),
                          accumulate=True)
        energy = data.get(keys.TOTAL_ENERGY)
        if energy is not None:
            e = energy.detach().double().reshape(-1)
            ok = ~torch.isnan(e)
            c, e = counts[ok].numpy(), e[ok].numpy()
            ata += c.T @ c
            ate += c.T @ e
            type_in_energy_frames |= c.sum(axis=0) > 0
            num_energy_frames += int(ok.sum())

        forces = data.get(keys.FORCES)
        if forces is not None:
            f = forces.detach().double()
            ok = ~torch.isnan(f).any(dim=1)
            sq = (f[ok] ** 2).sum(dim=1)
            force_sq += np.bincount(types[ok].numpy(), weights=sq.numpy(), minlength=num_types)
            force_atoms += np.bincount(types[ok].numpy(), minlength=num_types)

    if num_frames == 0:
        raise DataError("compute_statistics got no frames; is the training set empty?")

    shift = np.zeros(num_types)
    present = np.nonzero(type_in_energy_frames)[0]
    if num_energy_frames == 0:
        warnings.warn("no frame has an energy; per-type energy shifts are set to 0")
    else:
        missing = [int(t) for t in range(num_types) if not type_in_energy_frames[t]]
        if missing:
            warnings.warn(
                f"types {missing} never appear in frames with an energy; their energy shift is 0"
            )
        # normal equations restricted to types that appear; lstsq gives the minimum-norm
        # solution when compositions are collinear (absent types must stay exactly 0)
        sub = ata[np.ix_(present, present)]
        shift[present] = np.linalg.lstsq(sub, ate[present], rcond=1e-12)[0]

    total_force_atoms = float(force_atoms.sum())
    if total_force_atoms == 0:
        warnings.warn("no frame has forces; force_rms is set to 1.0")
        force_rms = 1.0
    else:
        force_rms = float(np.sqrt(force_sq.sum() / (3 * total_force_atoms)))
    per_type_force_rms = [
        float(np.sqrt(force_sq[t] / (3 * force_atoms[t]))) if force_atoms[t] > 0 else force_rms
        for t in range(num_types)
    ]
    return {
        "per_type_energy_shift": [float(x) for x in shift],
        "force_rms": force_rms,
        "per_type_force_rms": per_type_force_rms,
        "avg_num_neighbors": float(num_edges / num_atoms) if num_atoms else 0.0,
        "num_frames": int(num_frames),
        "num_atoms": int(num_atoms),
        "num_frames_with_energy": int(num_energy_frames),
        "num_atoms_with_forces": int(total_force_atoms),
    }
