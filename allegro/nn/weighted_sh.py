"""Per-channel weighting of spherical harmonics: ``U x Y`` blocks scaled by weights per (channel, l)."""

from typing import Sequence, Tuple

import torch


def weighted_sh_index(sh_ls: Sequence[int], num_channels: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(weight_index, sh_index)``: for every output column of :func:`weighted_sh`, the weight column
    and the spherical-harmonic column it multiplies."""
    weight_index, sh_index, start = [], [], 0
    for i, l in enumerate(sh_ls):
        for u in range(num_channels):
            for m in range(2 * l + 1):
                weight_index.append(i * num_channels + u)
                sh_index.append(start + m)
        start += 2 * l + 1
    return torch.tensor(weight_index, dtype=torch.long), torch.tensor(sh_index, dtype=torch.long)


def weighted_sh(weights: torch.Tensor, sh: torch.Tensor, weight_index: torch.Tensor, sh_index: torch.Tensor) -> torch.Tensor:
    """``weights [E, U * len(sh_ls)]`` (channel-major within each irrep: index ``i * U + u``) and
    ``sh [E, sum(2l+1)]`` (one irrep of each order in ``sh_ls``, as ``irreps_sh``) -> ``[E, U * sh.shape[1]]``
    laid out as e3nn irreps ``U x ir_0 + U x ir_1 + ...`` (each block ``[U, 2l+1]`` flattened), with the
    index pair of :func:`weighted_sh_index`. Two gathers and one product: on edge-sized tensors this
    moves far less memory (forward and backward) than a product per irrep block."""
    return weights.index_select(1, weight_index) * sh.index_select(1, sh_index)
