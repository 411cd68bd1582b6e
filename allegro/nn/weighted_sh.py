"""Per-channel weighting of spherical harmonics: ``U x Y`` blocks scaled by weights per (channel, l)."""

import torch
from e3nn import o3


def weighted_sh(weights: torch.Tensor, sh: torch.Tensor, irreps_sh: o3.Irreps, num_channels: int) -> torch.Tensor:
    """``weights [E, U * len(irreps_sh)]`` (channel-major within each irrep: index ``i * U + u``) and
    ``sh [E, irreps_sh.dim]`` -> ``[E, (U x irreps_sh).dim]`` laid out as e3nn irreps
    ``U x ir_0 + U x ir_1 + ...`` (each block ``[U, 2l+1]`` flattened)."""
    E = sh.shape[0]
    blocks = []
    for i, (sl, (_, ir)) in enumerate(zip(irreps_sh.slices(), irreps_sh)):
        w = weights[:, i * num_channels : (i + 1) * num_channels]
        blocks.append((w.unsqueeze(-1) * sh[:, sl].unsqueeze(1)).reshape(E, num_channels * ir.dim))
    return torch.cat(blocks, dim=-1)
