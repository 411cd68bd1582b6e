"""The tensor-product modules the models use. Each runs either the pure-PyTorch reference or our
compiled operator library (``backend="extension"``, see extensions/), with the same numbers."""

import torch
from e3nn import o3

from ..errors import ConfigError
from . import extension, reference
from .paths import cg_block, enumerate_paths

BACKENDS = ("reference", "extension")


def ops_available() -> bool:
    """Whether the compiled operator library (extensions/) can be used here (builds it once if needed)."""
    return extension.available()[0]


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"tensor-product backend '{backend}' is unknown; choose one of {', '.join(BACKENDS)}")
    if backend == "extension":
        usable, reason = extension.available()
        if not usable:
            raise ConfigError(f"tensor-product backend 'extension' is not usable here: {reason}")


class _TensorProduct(torch.nn.Module):
    def __init__(self, paths, irreps_out: o3.Irreps, backend: str):
        super().__init__()
        _check_backend(backend)
        self.backend = backend
        self.paths = paths
        self.irreps_out = irreps_out
        self.out_dim = irreps_out.dim  # a plain int: compiled graphs guard on it, not on the Irreps object
        dtype = torch.get_default_dtype()
        # layout constants, rebuilt from the irreps: never in a state dict, so checkpoints load into either backend
        if backend == "reference":
            for index, path in enumerate(paths):
                self.register_buffer(f"cg_{index}", cg_block(path.l1, path.l2, path.l_out, dtype), persistent=False)
        else:
            table, cg_index, cg_value = extension.path_tables(paths, dtype)
            self.register_buffer("path_table", table, persistent=False)
            self.register_buffer("cg_index", cg_index, persistent=False)
            self.register_buffer("cg_value", cg_value, persistent=False)

    def _cg(self):
        return [getattr(self, f"cg_{index}") for index in range(len(self.paths))]


class ConvolutionTP(_TensorProduct):
    """NequIP's convolution: per-edge 'uvu' tensor product of the neighbor's features with the edge
    spherical harmonics, weighted per edge, path and channel, summed onto the center atom.

    Paths: every input irrep ``(mul, ir1)``, every ``ir2`` of ``irreps_sh`` (multiplicity 1), every
    ``ir_out`` in ``ir1 * ir2`` of a type in ``irreps_out``. ``irreps_out`` (attribute) is the actual
    layout: one ``(mul, ir_out)`` block per path, in path order. ``weight_numel`` = sum of ``mul``.
    Numerically equal to e3nn's ``TensorProduct`` with those 'uvu' instructions followed by a sum.
    """

    def __init__(self, irreps_in, irreps_sh, irreps_out, backend: str = "reference"):
        paths, layout = enumerate_paths(irreps_in, irreps_sh, irreps_out, same_mul=False)
        super().__init__(paths, layout, backend)
        self.irreps_in, self.irreps_sh = o3.Irreps(irreps_in), o3.Irreps(irreps_sh)
        self.weight_numel = sum(path.mul for path in paths)

    def forward(self, x, sh, weight, edge_center, edge_neighbor) -> torch.Tensor:
        """x ``[N, irreps_in.dim]``, sh ``[E, irreps_sh.dim]``, weight ``[E, weight_numel]``,
        edge_center / edge_neighbor ``[E]`` int64 -> ``[N, irreps_out.dim]``."""
        if self.backend == "extension":
            return extension.convolution(
                x, sh, weight, edge_center, edge_neighbor, self.path_table, self.cg_index, self.cg_value, self.out_dim
            )
        return reference.convolution(x, sh, weight, edge_center, edge_neighbor, self.paths, self._cg())


class ChannelwiseTP(_TensorProduct):
    """Allegro's channel-wise ('uuu', unweighted) tensor product of pair features with an
    environment embedding gathered by index. All irreps of both inputs have one multiplicity U;
    ``irreps_out`` (attribute) has one ``(U, ir_out)`` block per path, in path order."""

    def __init__(self, irreps_in1, irreps_in2, irreps_out, backend: str = "reference"):
        paths, layout = enumerate_paths(irreps_in1, irreps_in2, irreps_out, same_mul=True)
        super().__init__(paths, layout, backend)
        self.irreps_in1, self.irreps_in2 = o3.Irreps(irreps_in1), o3.Irreps(irreps_in2)

    def forward(self, x1, x2, x2_index) -> torch.Tensor:
        """x1 ``[E, irreps_in1.dim]``, x2 ``[M, irreps_in2.dim]``, x2_index ``[E]`` int64 -> ``[E, irreps_out.dim]``."""
        if self.backend == "extension":
            return extension.channelwise(
                x1, x2, x2_index, self.path_table, self.cg_index, self.cg_value, self.out_dim
            )
        return reference.channelwise(x1, x2, x2_index, self.paths, self._cg())
