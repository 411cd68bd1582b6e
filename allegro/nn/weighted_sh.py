"""Per-channel weighting of spherical harmonics: ``U x Y`` blocks scaled by weights per (channel, l)."""

from typing import Sequence

import torch


def weighted_sh(weights: torch.Tensor, sh: torch.Tensor, sh_ls: Sequence[int], num_channels: int) -> torch.Tensor:
    """``weights [E, U * len(sh_ls)]`` (channel-major within each irrep: index ``i * U + u``) and
    ``sh [E, sum(2l+1)]`` (one irrep of each order in ``sh_ls``, as ``irreps_sh``) -> ``[E, U * sh.shape[1]]``
    laid out as e3nn irreps ``U x ir_0 + U x ir_1 + ...`` (each block ``[U, 2l+1]`` flattened).
    ``sh_ls`` is plain ints, so compiled graphs guard on numbers rather than on Irreps objects."""
    E = sh.shape[0]
    blocks, start = [], 0
    for i, l in enumerate(sh_ls):
        w = weights[:, i * num_channels : (i + 1) * num_channels]
        block = sh[:, start : start + 2 * l + 1]
        blocks.append((w.unsqueeze(-1) * block.unsqueeze(1)).reshape(E, num_channels * (2 * l + 1)))
        start += 2 * l + 1
    return torch.cat(blocks, dim=-1)
