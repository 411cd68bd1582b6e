"""Builds and loads ``nequip_ops_emulated`` (extensions/testing/): the CUDA kernels of extensions/csrc
compiled for the host and run under an emulated launch. Cached like the operator library, keyed by
the sources and the torch build (~35 s to build on 2 cores; a cached load takes milliseconds)."""

import functools
import hashlib

import torch

from nequip.ops import extension
from nequip.utils.native_build import cache_dir

TESTING_DIR = extension.SOURCE_DIR.parent / "testing"
SOURCES = (TESTING_DIR / "tp_emulation.cpp",)
HEADERS = (TESTING_DIR / "cuda_host.h",) + tuple(extension.SOURCE_DIR / h for h in ("tp_launch.h", "tp_kernels.cuh", "tp_layout.h"))


def _build_name() -> str:
    digest = hashlib.sha1()
    for path in SOURCES + HEADERS:
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(f"{torch.__version__}|{torch.__file__}".encode())
    return f"nequip_ops_emulated_{digest.hexdigest()[:12]}"


@functools.lru_cache(maxsize=None)
def load():
    """Loads the CPU operator library (the reference) and the emulation; returns
    ``torch.ops.nequip_ops_emulated``."""
    extension.load()
    name = _build_name()
    build_dir = cache_dir("ops", "NEQUIP_OPS_CACHE") / name  # beside the operator library
    library = build_dir / f"{name}.so"
    if not library.exists():
        from torch.utils import cpp_extension

        build_dir.mkdir(parents=True, exist_ok=True)
        # -O1: the emulation runs small cases, so build time matters more than speed
        cpp_extension.load(
            name=name, sources=[str(s) for s in SOURCES], extra_include_paths=[str(extension.SOURCE_DIR)],
            extra_cflags=["-O1", "-pthread"], extra_ldflags=["-pthread"], build_directory=str(build_dir), is_python_module=False, with_cuda=False,
        )
    if not hasattr(torch.ops.nequip_ops_emulated, "conv_contract"):
        torch.ops.load_library(str(library))
    return torch.ops.nequip_ops_emulated
