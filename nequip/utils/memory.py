"""Keeping freed memory in the process, so that large per-call tensors do not page-fault every call.

glibc's malloc serves blocks above 32 MB with a fresh ``mmap`` and gives them back with ``munmap``
when freed, and trims the heap top when it is freed. A model call on a large system allocates
edge-sized activations of hundreds of MB, so every call pays the kernel for faulting in and zeroing
them again: measured on a 16384-atom copper cell (NequIP, 1 thread), half the call's time was
system time and the cost per atom 1.7x that of 2048 atoms; with freed memory kept, the cost per
atom is flat. The process's peak memory is unchanged; its resident memory stays at the peak.

This is a setting of the whole process, so only the entry points make it by default (the console
scripts through nequip.utils.cli, and the LAMMPS plugin, cpp/pair_nequip.cpp, in C++); a library
object living in someone else's process (the ASE calculator in a Jupyter kernel or a user's script)
makes it only when asked. ``NEQUIP_MALLOC_TUNING=0`` leaves malloc alone everywhere;
``NEQUIP_MALLOC_TUNING=1`` asks for it everywhere. Other C libraries (musl, macOS) are left alone.
"""

import ctypes
import functools
import os
from typing import Optional

_M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
_M_MMAP_MAX = -4
_NEVER_TRIM_BELOW = 2**31 - 1  # bytes: the largest value mallopt takes


def keep_freed_memory(requested: Optional[bool] = None, default: bool = True) -> bool:
    """Makes glibc's malloc keep freed memory for reuse (once per process); returns whether it did.

    ``requested`` is the caller's explicit choice; None leaves it to ``NEQUIP_MALLOC_TUNING`` (``0``:
    no, any other value: yes) and, where that is unset, to ``default`` (True for entry points, False
    for library objects).
    """
    if requested is None:
        value = os.environ.get("NEQUIP_MALLOC_TUNING")
        requested = default if value is None else value != "0"
    return requested and _tune_malloc()


@functools.lru_cache(maxsize=None)
def _tune_malloc() -> bool:
    """Sets glibc's malloc options (once per process); returns whether it did."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM_BELOW))
