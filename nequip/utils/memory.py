"""Keeping freed memory in the process, so that large per-call tensors do not page-fault every call.

glibc's malloc serves blocks above 32 MB with a fresh ``mmap`` and gives them back with ``munmap``
when freed, and trims the heap top when it is freed. A model call on a large system allocates
edge-sized activations of hundreds of MB, so every call pays the kernel for faulting in and zeroing
them again: measured on a 16384-atom copper cell (NequIP, 1 thread), half the call's time was
system time and the cost per atom 1.7x that of 2048 atoms; with freed memory kept, the cost per
atom is flat. The process's peak memory is unchanged; its resident memory stays at the peak.

``NEQUIP_MALLOC_TUNING=0`` leaves malloc alone. Other C libraries (musl, macOS) are left alone.
The LAMMPS plugin (cpp/pair_nequip.cpp) does the same in C++.
"""

import ctypes
import functools
import os

_M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
_M_MMAP_MAX = -4
_NEVER_TRIM_BELOW = 2**31 - 1  # bytes: the largest value mallopt takes


@functools.lru_cache(maxsize=None)
def keep_freed_memory() -> bool:
    """Makes glibc's malloc keep freed memory for reuse (once per process); returns whether it did."""
    if os.environ.get("NEQUIP_MALLOC_TUNING", "1") == "0":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM_BELOW))
