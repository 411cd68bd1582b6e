"""The compiled operator library of extensions/ (``torch.ops.nequip_ops``): build, load, and the
Python registrations PyTorch needs around its kernels.

The library is JIT-built on first use (~1 min with the CPU kernels; the CUDA kernels are added
when torch has CUDA and nvcc is found) and cached under ``~/.cache/nequip/ops/`` (see
nequip.utils.native_build) keyed by the torch build, the C++ compiler and a hash of the sources,
so a new torch or an edited kernel rebuilds and a stale library is never loaded. ``python -m
nequip.ops build`` builds it ahead of time (install.sh does); ``python -m nequip.ops path`` prints
the shared library, which C++ programs that run exported models (the LAMMPS plugin) load through
``NEQUIP_OPS_LIBRARY``.

Each operator returns the derivative of a multilinear form with respect to its ``open`` argument
(see extensions/csrc/tp_ops.h), so its autograd formula is the same operator with the slots
exchanged: gradients of any order are registered operators and appear as such in compiled and
exported graphs.
"""

from __future__ import annotations

import functools
import os
import shutil
from typing import List, Optional, Sequence, Tuple

import torch

from .._files import missing_message, shipped_dir
from ..errors import SetupError
from ..utils.compiler import compiler_id, cxx
from ..utils.native_build import build_lock, cache_dir, cache_key, private_build_dir, publish
from .paths import Path as TPPath
from .paths import cg_block

SOURCE_DIR = shipped_dir("extensions") / "csrc"
CPU_SOURCES = ("tp_ops.cpp",)
CUDA_SOURCES = ("tp_ops_cuda.cu",)
HEADERS = ("tp_ops.h", "tp_cpu_isa.h", "tp_cpu_kernels.h", "tp_layout.h", "tp_kernels.cuh", "tp_launch.h")

CONV_X, CONV_SH, CONV_WEIGHT, CONV_OUT = range(4)
CW_X1, CW_X2, CW_OUT = range(3)


class ExtensionUnavailable(SetupError):
    """The operator library cannot be built or loaded here; the message says why and what to do."""


def _with_cuda() -> bool:
    from torch.utils.cpp_extension import CUDA_HOME

    return torch.version.cuda is not None and CUDA_HOME is not None


def _build_name(with_cuda: bool) -> str:
    files = [(name, SOURCE_DIR / name) for name in CPU_SOURCES + CUDA_SOURCES + HEADERS]
    return f"nequip_ops_{cache_key(files, f'{torch.__version__}|{torch.__file__}|{with_cuda}|{compiler_id(cxx())}')}"


def library_path() -> str:
    """Builds the library if needed and returns the path of the shared object (without loading it).

    Raises :class:`ExtensionUnavailable` when the sources or a C++ compiler are missing, or the
    build fails (with the compiler's message).
    """
    if not (SOURCE_DIR / CPU_SOURCES[0]).exists():
        raise ExtensionUnavailable(f"{missing_message(SOURCE_DIR)}; or set model.tp_backend: reference")
    with_cuda = _with_cuda()
    name = _build_name(with_cuda)
    build_dir = cache_dir("ops", "NEQUIP_OPS_CACHE") / name
    library = build_dir / f"{name}.so"
    if library.exists():
        return str(library)
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise ExtensionUnavailable(
            f"building the tensor-product operators needs a C++ compiler ('{compiler}' not found; install g++ or set "
            "CXX), or set model.tp_backend: reference"
        )
    from torch.utils import cpp_extension

    sources = [str(SOURCE_DIR / s) for s in CPU_SOURCES + (CUDA_SOURCES if with_cuda else ())]
    with build_lock(library):  # concurrent processes (DDP ranks) wait for one build
        if library.exists():  # built by another process while this one waited
            return str(library)
        with private_build_dir(library) as work:
            try:
                cpp_extension.load(
                    name=name,
                    sources=sources,
                    extra_cflags=["-O3", "-fopenmp"],
                    extra_ldflags=["-fopenmp"],
                    extra_cuda_cflags=["-O3", "--use_fast_math"] if with_cuda else None,
                    build_directory=str(work),
                    is_python_module=False,
                    with_cuda=with_cuda,
                    verbose=False,
                )
            except Exception as error:  # the compiler's output is in the message
                raise ExtensionUnavailable(
                    f"building the tensor-product operators in {build_dir} failed: {error}\n"
                    "fix the compiler error above, or set model.tp_backend: reference"
                ) from error
            publish(work / f"{name}.so", library)
    return str(library)


CPU_ISAS = ("baseline", "avx2", "avx512")


def check_cpu_isa_setting() -> None:
    """Raises :class:`ExtensionUnavailable` if ``NEQUIP_OPS_CPU_ISA`` is set to an unknown value (the
    kernels check it too, but there it would surface as a RuntimeError from inside torch)."""
    asked = os.environ.get("NEQUIP_OPS_CPU_ISA", "")
    if asked and asked not in CPU_ISAS:
        raise ExtensionUnavailable(
            f"NEQUIP_OPS_CPU_ISA='{asked}' is not one of {', '.join(CPU_ISAS)}; unset it to run the best copy this CPU has"
        )


@functools.lru_cache(maxsize=None)
def load() -> str:
    """Builds (once), loads the library into this process and registers fake implementations and
    autograd formulas; returns the library path. Raises :class:`ExtensionUnavailable`."""
    check_cpu_isa_setting()
    path = library_path()
    if not hasattr(torch.ops.nequip_ops, "conv_contract"):
        torch.ops.load_library(path)
    _register_python_parts()
    return path


@functools.lru_cache(maxsize=None)
def available() -> Tuple[bool, Optional[str]]:
    """``(True, None)`` when the library loads here, else ``(False, reason)`` (asked once per process:
    a failing build is not retried for every module)."""
    try:
        load()
        return True, None
    except ExtensionUnavailable as error:
        return False, str(error)


# ---- the Python parts of the operators: fake (shape) implementations and autograd formulas ----


def _fake(*args):
    """Both operators: ``[rows, cols]`` in the dtype and on the device of ``cg_value``."""
    *_, cg_value, _open, rows, cols = args
    return cg_value.new_empty((rows, cols))


def _setup_context(ctx, inputs, output):
    *operands, open, _rows, _cols = inputs
    ctx.open = open
    ctx.save_for_backward(*operands)


def _backward_of(op, num_slots: int):
    """The autograd formula of ``op``, whose first ``num_slots`` arguments are the form's slots: the
    gradient of slot ``s`` is ``op`` with the incoming gradient in the open slot and ``s`` open."""

    def backward(ctx, grad):
        saved = ctx.saved_tensors
        slots, layout = list(saved[:num_slots]), saved[num_slots:]
        grads: List[Optional[torch.Tensor]] = [None] * (len(saved) + 3)  # + open, rows, cols
        for slot in range(num_slots):
            if slot != ctx.open and ctx.needs_input_grad[slot]:
                filled = list(slots)
                filled[ctx.open], filled[slot] = grad, grad.new_empty(0)
                grads[slot] = op(*filled, *layout, slot, slots[slot].shape[0], slots[slot].shape[1])
        return tuple(grads)

    return backward


@functools.lru_cache(maxsize=None)
def _register_python_parts() -> None:
    for name, num_slots in (("conv_contract", 4), ("channelwise_contract", 3)):
        op = getattr(torch.ops.nequip_ops, name)
        torch.library.register_fake(f"nequip_ops::{name}", _fake)
        torch.library.register_autograd(
            f"nequip_ops::{name}", _backward_of(op, num_slots), setup_context=_setup_context
        )


# ---- path tables: the layout arguments of the operators ----


def path_tables(paths: Sequence[TPPath], dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(paths [P, 10] int64, cg_index [nnz, 3] int64, cg_value [nnz])``: the column order of
    ``PathColumn`` in tp_ops.h and the nonzero Clebsch-Gordan coefficients of each path."""
    rows, indices, values = [], [], []
    for path in paths:
        block = cg_block(path.l1, path.l2, path.l_out, torch.float64)
        nonzero = block.abs() > 1e-12
        begin = sum(len(v) for v in values)
        index = nonzero.nonzero()
        indices.append(index)
        values.append(block[nonzero])
        rows.append([
            path.mul, path.l1, path.l2, path.l_out, path.in1_start, path.in2_start, path.out_start,
            path.weight_start, begin, begin + len(index),
        ])
    return (
        torch.tensor(rows, dtype=torch.int64),
        torch.cat(indices).to(torch.int64),
        torch.cat(values).to(dtype),
    )


def convolution(x, sh, weight, edge_center, edge_neighbor, paths, cg_index, cg_value, out_dim: int) -> torch.Tensor:
    """The convolution of :func:`nequip.ops.reference.convolution` through the compiled kernels."""
    return torch.ops.nequip_ops.conv_contract(
        x, sh, weight, x.new_empty(0), edge_center, edge_neighbor, paths, cg_index, cg_value, CONV_OUT, x.shape[0], out_dim
    )


def channelwise(x1, x2, x2_index, paths, cg_index, cg_value, out_dim: int) -> torch.Tensor:
    """The channel-wise product of :func:`nequip.ops.reference.channelwise` through the compiled kernels."""
    return torch.ops.nequip_ops.channelwise_contract(
        x1, x2, x1.new_empty(0), x2_index, paths, cg_index, cg_value, CW_OUT, x1.shape[0], out_dim
    )
