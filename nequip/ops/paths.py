"""Path lists of the tensor products: which (input irrep, input irrep) -> output irrep couplings
exist, where each block sits in the flat feature layout, and their Clebsch-Gordan blocks.

Normalisation follows e3nn's ``irrep_normalization="component"``, ``path_normalization="element"``
for layouts where every path writes its own output block: a path's coefficient is
``sqrt(2 l_out + 1) * wigner_3j(l1, l2, l_out)``.
"""

import math
from dataclasses import dataclass
from typing import List, Tuple

import torch
from e3nn import o3


@dataclass(frozen=True)
class Path:
    """One coupling ``(mul, l1) x l2 -> (mul, l_out)`` and where its blocks sit.

    ``in1_start`` / ``in2_start`` / ``out_start`` are offsets into the flat feature vectors;
    ``weight_start`` the offset of its ``mul`` per-channel weights (convolution only).
    """

    mul: int
    l1: int
    l2: int
    l_out: int
    in1_start: int
    in2_start: int
    out_start: int
    weight_start: int


def _allowed_types(irreps_out: o3.Irreps) -> set:
    return {ir for _, ir in o3.Irreps(irreps_out)}


def enumerate_paths(irreps_in1, irreps_in2, irreps_out, same_mul: bool) -> Tuple[List[Path], o3.Irreps]:
    """All paths ``(i1, i2, ir_out)`` with ``ir_out`` in ``ir1 * ir2`` and of a type present in
    ``irreps_out`` (multiplicities there are ignored). Output multiplicity = that of input 1.

    ``same_mul`` (channel-wise product): both inputs have one multiplicity, used channel by channel;
    otherwise (convolution) every irrep of input 2 must have multiplicity 1.

    Returns ``(paths, output layout)``; the layout has one block per path, in path order.
    Raises ``ValueError`` on multiplicities that do not fit the mode.
    """
    irreps_in1, irreps_in2 = o3.Irreps(irreps_in1), o3.Irreps(irreps_in2)
    allowed = _allowed_types(irreps_out)
    if same_mul:
        muls = {mul for mul, _ in irreps_in1} | {mul for mul, _ in irreps_in2}
        if len(muls) > 1:
            raise ValueError(f"channel-wise tensor product needs one multiplicity in {irreps_in1} and {irreps_in2}")
    elif any(mul != 1 for mul, _ in irreps_in2):
        raise ValueError(f"convolution tensor product needs multiplicity 1 in the second input, got {irreps_in2}")
    paths, layout = [], []
    out_start = weight_start = 0
    for (mul, ir1), start1 in zip(irreps_in1, _starts(irreps_in1)):
        for (mul2, ir2), start2 in zip(irreps_in2, _starts(irreps_in2)):
            for ir_out in ir1 * ir2:
                if ir_out not in allowed:
                    continue
                paths.append(Path(mul, ir1.l, ir2.l, ir_out.l, start1, start2, out_start, weight_start))
                layout.append((mul, ir_out))
                out_start += mul * ir_out.dim
                weight_start += mul
    if not paths:
        raise ValueError(f"no tensor-product path from {irreps_in1} x {irreps_in2} reaches {irreps_out}")
    return paths, o3.Irreps(layout)


def _starts(irreps: o3.Irreps) -> List[int]:
    starts, offset = [], 0
    for mul, ir in irreps:
        starts.append(offset)
        offset += mul * ir.dim
    return starts


def cg_block(l1: int, l2: int, l_out: int, dtype: torch.dtype) -> torch.Tensor:
    """``[2l1+1, 2l2+1, 2l_out+1]`` normalised coupling coefficients of one path."""
    return math.sqrt(2 * l_out + 1) * o3.wigner_3j(l1, l2, l_out, dtype=torch.float64).to(dtype)
