"""The identity of the compilers that build our native code (the operator library, the LAMMPS
plugin): part of their cache keys, so that a new compiler rebuilds instead of reusing objects it
did not build."""

import functools
import os
import shutil
import subprocess


def cxx() -> str:
    """The C++ compiler that torch's extension builder and CMake use: ``$CXX``, else ``c++``."""
    return os.environ.get("CXX", "c++")


@functools.lru_cache(maxsize=None)
def compiler_id(compiler: str) -> str:
    """``"<resolved path>: <first line of --version>"``, or ``"<compiler>: not found"`` (the build
    that needs it then reports the missing compiler)."""
    path = shutil.which(compiler)
    if path is None:
        return f"{compiler}: not found"
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as error:
        return f"{path}: {error}"
    return f"{os.path.realpath(path)}: {out.strip().splitlines()[0] if out.strip() else 'unknown'}"
