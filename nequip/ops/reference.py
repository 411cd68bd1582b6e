"""Pure-PyTorch tensor products (einsum on dense Clebsch-Gordan blocks): always available, the
specification the C++/CUDA kernels are tested against, and friendly to torch.compile / export
(no data-dependent Python control flow)."""

from typing import List, Sequence

import torch

from .paths import Path


def _block(x: torch.Tensor, start: int, mul: int, l: int) -> torch.Tensor:
    d = 2 * l + 1
    return x[:, start : start + mul * d].reshape(x.shape[0], mul, d)


def convolution(
    x: torch.Tensor,
    sh: torch.Tensor,
    weight: torch.Tensor,
    edge_center: torch.Tensor,
    edge_neighbor: torch.Tensor,
    paths: Sequence[Path],
    cg: List[torch.Tensor],
) -> torch.Tensor:
    """``out[c] = sum_{e: center(e)=c} sum_paths w[e,p,u] CG_p(x[neighbor(e)]_u, sh[e])`` -> ``[N, D_out]``."""
    x_nb = x[edge_neighbor]
    messages = []
    for path, coupling in zip(paths, cg):
        xb = _block(x_nb, path.in1_start, path.mul, path.l1)
        shb = sh[:, path.in2_start : path.in2_start + 2 * path.l2 + 1]
        coupled = torch.einsum("ej,ijk->eik", shb, coupling)
        w = weight[:, path.weight_start : path.weight_start + path.mul]
        width = path.mul * (2 * path.l_out + 1)
        messages.append((torch.einsum("eui,eik->euk", xb, coupled) * w.unsqueeze(-1)).reshape(x_nb.shape[0], width))
    message = torch.cat(messages, dim=-1)
    out = torch.zeros(x.shape[0], message.shape[1], dtype=message.dtype, device=message.device)
    return out.index_add(0, edge_center, message)


def channelwise(
    x1: torch.Tensor, x2: torch.Tensor, x2_index: torch.Tensor, paths: Sequence[Path], cg: List[torch.Tensor]
) -> torch.Tensor:
    """``out[e, path, u] = CG_p(x1[e]_u, x2[x2_index[e]]_u)`` (no weights) -> ``[E, D_out]``."""
    x2 = x2[x2_index]
    outs = []
    for path, coupling in zip(paths, cg):
        a = _block(x1, path.in1_start, path.mul, path.l1)
        b = _block(x2, path.in2_start, path.mul, path.l2)
        width = path.mul * (2 * path.l_out + 1)
        outs.append(torch.einsum("eui,euj,ijk->euk", a, b, coupling).reshape(x1.shape[0], width))
    return torch.cat(outs, dim=-1)
