"""Per-channel weighting of spherical harmonics: ``U x Y`` blocks scaled by weights per (channel, l)."""

from typing import Sequence

import torch


class WeightedSH(torch.nn.Module):
    """``weights [E, U * len(sh_ls)]`` (channel-major within each irrep: index ``i * U + u``) and
    ``sh [E, sum(2l+1)]`` (one irrep of each order in ``sh_ls``, as ``irreps_sh``) -> ``[E, U * sh.shape[1]]``
    laid out as e3nn irreps ``U x ir_0 + U x ir_1 + ...`` (each block ``[U, 2l+1]`` flattened).

    Two gathers and one product: on edge-sized tensors this moves far less memory (forward and
    backward) than a product per irrep block and a concatenation. The gather indices are layout
    constants, never in a state dict."""

    def __init__(self, sh_ls: Sequence[int], num_channels: int):
        super().__init__()
        weight_index, sh_index, start = [], [], 0
        for i, l in enumerate(sh_ls):
            for u in range(num_channels):
                for m in range(2 * l + 1):
                    weight_index.append(i * num_channels + u)
                    sh_index.append(start + m)
            start += 2 * l + 1
        self.register_buffer("weight_index", torch.tensor(weight_index, dtype=torch.long), persistent=False)
        self.register_buffer("sh_index", torch.tensor(sh_index, dtype=torch.long), persistent=False)

    def forward(self, weights: torch.Tensor, sh: torch.Tensor) -> torch.Tensor:
        return weights.index_select(1, self.weight_index) * sh.index_select(1, self.sh_index)
